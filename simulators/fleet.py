"""Patrol units and cameras of a generated city, simulated: positions with GPS noise, and
camera heartbeats and snapshots rendered with OpenCV. Deterministic for a seed."""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import shapely
from PIL import Image

from geofence.grid import Level, Priority
from geofence.sites import Camera

from .city import City, UnitPlan

SPEED_MPS = {"foot": 1.4, "bike": 4.0, "car": 9.0}
M_PER_DEG_LAT = 111_132.0


@dataclass(frozen=True)
class Path:
    """Where a unit is at every moment: straight legs at its kind's speed and dwells, as
    breakpoints joined by straight lines (lon/lat)."""

    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def at(self, ts: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(ts, self.t, self.lon), np.interp(ts, self.t, self.lat)

    def moving(self, ts: np.ndarray) -> np.ndarray:
        """Whether the unit is on a leg (not dwelling) at each time."""
        k = np.clip(np.searchsorted(self.t, ts, side="right") - 1, 0, len(self.t) - 2)
        return (self.lon[k + 1] != self.lon[k]) | (self.lat[k + 1] != self.lat[k])


@dataclass(frozen=True)
class UnitTrack:
    unit: UnitPlan
    path: Path  # the planned, exact position at any time
    ts: np.ndarray  # the fix times
    lon: np.ndarray  # the fixes as a GPS reports them: the path plus noise
    lat: np.ndarray
    acc: np.ndarray  # reported accuracy, m
    spd: np.ndarray  # m/s


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little")


def patrol_tracks(city: City, start: float, duration_s: float, interval_s: float, seed: int,
                  tours: bool = False) -> list[UnitTrack]:
    """Each unit patrols its own street: it heads for a cell (key cells three times as often),
    dwells there for one to ten minutes, then heads for the next, at its kind's speed. With
    `tours`, it goes round its street's cells in turn instead (nearest next, from a start of its
    own), dwelling two to three minutes in each. A fix every interval_s is its exact position
    plus GPS noise."""
    streets = {s.id: s for s in city.grid.at_level(Level.STREET)}
    cells_of: dict[str, list] = {}
    for leaf in city.grid.leaves:
        cells_of.setdefault(leaf.parent, []).append(leaf)
    out = []
    n = int(duration_s // interval_s) + 1
    end = start + duration_s
    for unit in city.units:
        rng = np.random.default_rng(_seed(seed, unit.id))
        cells = cells_of.get(unit.team) or city.grid.leaves
        weights = np.array([3.0 if c.priority is Priority.KEY else 1.0 for c in cells])
        weights /= weights.sum()
        cos = math.cos(math.radians(streets[unit.team].geometry.centroid.y)) if unit.team in streets else 0.85
        speed = SPEED_MPS[unit.kind]

        def somewhere(rng=rng, cells=cells, weights=weights) -> tuple[float, float]:
            cell = cells[rng.choice(len(cells), p=weights)]
            w, s, e, nn = cell.geometry.bounds
            for _ in range(50):
                x, y = rng.uniform(w, e), rng.uniform(s, nn)
                if cell.geometry.contains(shapely.Point(x, y)):
                    return x, y
            p = cell.geometry.representative_point()
            return p.x, p.y

        if tours:
            stops = _tour([c.geometry.representative_point() for c in cells], cos)
            first = int(rng.integers(len(stops)))
            places = itertools.cycle(stops[first:] + stops[:first])
            target = places.__next__
        else:
            target = somewhere
        x, y = target()
        t = start
        bt, bx, by = [t], [x], [y]
        while t <= end:
            tx, ty = target()
            dist = math.hypot((tx - x) * M_PER_DEG_LAT * cos, (ty - y) * M_PER_DEG_LAT)
            t += max(dist / speed, 1e-3)
            x, y = tx, ty
            bt.append(t), bx.append(x), by.append(y)
            t += rng.uniform(120, 180) if tours else rng.uniform(60, 600)
            bt.append(t), bx.append(x), by.append(y)
        path = Path(np.array(bt), np.array(bx), np.array(by))
        ts = start + np.arange(n) * interval_s
        lon, lat = path.at(ts)
        acc = rng.uniform(3, 12, n)
        noise = rng.normal(0, 1, (2, n)) * acc / 2  # metres
        out.append(UnitTrack(unit, path, ts, lon + noise[0] / (M_PER_DEG_LAT * cos), lat + noise[1] / M_PER_DEG_LAT,
                             np.round(acc, 1), np.where(path.moving(ts), speed, 0.0)))
    return out


def _tour(points, cos: float) -> list[tuple[float, float]]:
    """The points in the order of a nearest-next tour from the first."""
    left = [(p.x, p.y) for p in points]
    out = [left.pop(0)]
    while left:
        x, y = out[-1]
        k = min(range(len(left)), key=lambda i: ((left[i][0] - x) * cos) ** 2 + (left[i][1] - y) ** 2)
        out.append(left.pop(k))
    return out


# -- cameras -----------------------------------------------------------------------------------
IMAGE_FAULTS = ("blur", "dark", "overexposed", "frozen", "occluded", "colour_cast", "noise", "signal_loss",
                "scene_change", "stripe", "ptz_drift")
W, H = 320, 240
MARGIN = 64  # the scene is drawn this much wider on each side, for a camera that pans


def render_scene(camera_id: str, ts: float, tz_offset_h: float = 8.0, variant: int = 0, pan: int = 0) -> np.ndarray:
    """A street scene of the camera's own (buildings, windows, a road with lane marks, texture),
    lit by the time of day; `pan` pixels to the right of its preset (at most MARGIN either way)."""
    street, texture = _street(np.random.default_rng(_seed("scene", camera_id, variant)))
    # what changes from one moment to the next: traffic on the road, and the sensor's own noise
    moment = np.random.default_rng(_seed("moment", camera_id, int(ts)))
    for _ in range(int(moment.integers(1, 4))):
        y = int(moment.integers(H // 2 + 20, H - 20))
        x = MARGIN + int(moment.integers(40, W - 80))
        colour = tuple(int(v) for v in moment.integers(30, 230, 3))
        cv2.rectangle(street, (x, y), (x + 30 + y // 8, y + 10 + y // 20), colour, -1)
    hour = (datetime.fromtimestamp(ts, timezone.utc).hour + tz_offset_h) % 24
    light = 0.35 + 0.65 * max(0.0, math.sin(math.pi * (hour - 6) / 12)) if 6 <= hour <= 18 else 0.3
    view = slice(MARGIN + pan, MARGIN + pan + W)
    img = street[:, view] * light + texture[:, view] + moment.normal(0, 2.0, (H, W, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _street(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(the street, drawn MARGIN wider than the view on each side; its texture)."""
    wide = W + 2 * MARGIN
    img = np.zeros((H, wide, 3), np.uint8)
    sky_top, sky_bottom = rng.integers(120, 200, 3), rng.integers(180, 255, 3)
    for row in range(H // 2):
        img[row] = sky_top + (sky_bottom - sky_top) * row / (H // 2)
    img[H // 2:] = rng.integers(60, 110, 3)
    x = 0
    while x < wide:
        bw, bh = int(rng.integers(30, 80)), int(rng.integers(40, 110))
        colour = tuple(int(v) for v in rng.integers(50, 200, 3))
        cv2.rectangle(img, (x, H // 2 - bh), (x + bw, H // 2 + 10), colour, -1)
        for wy in range(H // 2 - bh + 6, H // 2, 12):
            for wx in range(x + 4, x + bw - 6, 10):
                cv2.rectangle(img, (wx, wy), (wx + 4, wy + 6), (220, 220, 160), -1)
        x += bw + int(rng.integers(2, 10))
    mid = wide // 2
    cv2.fillConvexPoly(img, np.array([[mid - 20, H // 2 + 10], [mid + 20, H // 2 + 10], [mid + W // 2 - 10, H],
                                      [mid - W // 2 + 10, H]]), (70, 70, 70))
    for k in range(6):
        y0 = H // 2 + 20 + k * 18
        cv2.line(img, (mid, y0), (mid, y0 + 8), (240, 240, 240), 2)
    return img, rng.normal(0, 6, (H, wide, 1))


def apply_image_fault(img: np.ndarray, fault: str | None, camera_id: str, ts: float,
                      severity: float = 1.0) -> np.ndarray:
    """The picture with the fault, at a severity from mild (0.5) to strong (1, the default)."""
    s = severity
    if fault is None or fault == "frozen":
        return img
    rng = np.random.default_rng(_seed("fault", camera_id, int(ts)))
    if fault == "blur":
        return cv2.GaussianBlur(img, (0, 0), 8 * s)
    if fault == "dark":
        return (img * 0.08 / s).astype(np.uint8)
    if fault == "overexposed":
        return np.clip(img * (1 + 2 * s) + 120 * s, 0, 255).astype(np.uint8)
    if fault == "occluded":  # the upper half to three quarters covered, whatever the picture's size
        out = img.copy()
        cv2.rectangle(out, (0, 0), (img.shape[1], int(img.shape[0] * (0.5 + 0.25 * s))), (15, 15, 15), -1)
        return out
    if fault == "colour_cast":
        out = img.astype(np.int32)
        out[:, :, 1] = np.clip(out[:, :, 1] + 90 * s, 0, 255)  # green
        return out.astype(np.uint8)
    if fault == "noise":
        return np.clip(img + rng.normal(0, 60 * s, img.shape), 0, 255).astype(np.uint8)
    if fault == "signal_loss":  # the recorder's blue or black screen, or colour bars, with its message
        out = np.zeros_like(img)
        h, w = img.shape[:2]
        kind = int(ts) % 3
        if kind == 0:
            out[:, :] = (255, 0, 0)
        elif kind == 2:
            for k, colour in enumerate([(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255),
                                        (0, 0, 255), (255, 0, 0), (0, 0, 0)]):
                out[:, k * w // 8:(k + 1) * w // 8] = colour
        cv2.putText(out, "NO VIDEO", (w // 3, h // 2), cv2.FONT_HERSHEY_PLAIN, h / 240, (255, 255, 255), 1)
        return out
    if fault == "scene_change":
        return render_scene(camera_id, ts, variant=1)
    if fault == "stripe":  # interference: bright and dark bars across the picture, rolling from one moment to the next
        period = img.shape[0] / rng.uniform(6, 14)
        rows = np.arange(img.shape[0])[:, None, None]
        return np.clip(img + 28 * s * np.sin(2 * np.pi * rows / period + rng.uniform(0, 6.3)), 0, 255).astype(np.uint8)
    if fault == "ptz_drift":  # the view turned a tenth to a fifth of its width away from its preset
        pan = round(MARGIN * s)
        return render_scene(camera_id, ts, pan=pan if rng.random() < 0.5 else -pan)
    raise ValueError(f"unknown image fault {fault!r}")


def snapshot(camera: Camera, ts: float, fault: str | None = None, frozen_at: float | None = None,
             severity: float = 1.0) -> bytes:
    """A JPEG of the camera's scene at ts (at frozen_at for a frozen camera), with a fault applied."""
    at = frozen_at if fault == "frozen" and frozen_at is not None else ts
    img = stamp(apply_image_fault(render_scene(camera.id, at), fault, camera.id, ts, severity), ts, camera.id)
    ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return with_exif_time(jpeg.tobytes(), ts)


def stamp(img: np.ndarray, ts: float, camera_id: str, offset_h: int = 8) -> np.ndarray:
    """The camera's OSD written on the picture, as cameras do: its clock and its name."""
    local = datetime.fromtimestamp(ts, timezone(timedelta(hours=offset_h)))
    out = img.copy()
    h = img.shape[0]
    cv2.putText(out, local.strftime("%Y-%m-%d %H:%M:%S"), (6, 14 * h // 240), cv2.FONT_HERSHEY_PLAIN, 0.8 * h / 240,
                (255, 255, 255), 1)
    cv2.putText(out, camera_id, (6, h - 8 * h // 240), cv2.FONT_HERSHEY_PLAIN, 0.8 * h / 240, (255, 255, 255), 1)
    return out


def with_exif_time(jpeg: bytes, ts: float, offset_h: int = 8) -> bytes:
    """The JPEG with an EXIF segment saying when it was taken, as IP cameras stamp their snapshots."""
    exif = Image.Exif()
    local = datetime.fromtimestamp(ts, timezone(timedelta(hours=offset_h)))
    exif.get_ifd(0x8769)[0x9003] = local.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    exif.get_ifd(0x8769)[0x9011] = local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]  # OffsetTimeOriginal
    data = exif.tobytes()
    return jpeg[:2] + b"\xff\xe1" + (len(data) + 2).to_bytes(2, "big") + data + jpeg[2:]
