"""Image diagnostics (VQD), judged on images no threshold was set on.

Every threshold in ``alerts/image.py`` is set by ``bench/calibrate_vqd.py`` on its calibration
set (the simulators' city of seed 3; a few photographs not used here; the simulators' fault
functions). Here the calibrated diagnosis is judged on sets built otherwise:

- **unseen simulated** snapshots: another city (seed 11, 200 cells) at 03:00, 09:00 and 15:00,
  faults at two severities,
  each against the camera's snapshot of *two hours before* as its reference and with its normal
  (``History``) from its healthy snapshots of the half hour before;
- **real photographs** shipped by scikit-image (street, people, objects, textures, a cat, the
  night sky, greyscale photographs), each a camera's view (a crop, so that the camera can turn
  off it) at 704×576 (D1/4CIF), every frame with the camera's OSD (a ticking clock, its name)
  and sensor noise. Each photograph is two cameras: one that turns to infrared at night, one with
  low-light colour at night (gamma 2.2, a fifth of the light, street lights kept lit). References
  were taken hours earlier, in other light (a fifth brighter or darker). Healthy: the scene
  static (only the sensor's noise differs: not frozen), shaken by a pixel or two, and with the
  light changed since the previous snapshot. Faults by this file's own functions, not the
  simulators', at three severities: defocus (a disc, not a Gaussian), gain, exposure, an
  occluder of irregular shape leaving a fifth to two fifths of the view, white balance gone on
  one channel, noise, "no video" screens with the recorder's text (blue, black, grey, colour
  bars), frozen (the same frame sent again while the OSD clock ticks on), another view, rolling
  interference bars (tilted, of three strengths), and the view panned or tilted off its preset;
- the same real photographs **with no reference and no history yet** (a camera's first
  snapshots in a light), judged on their own: printed, not in the score.

Per set and class: precision, recall and F1; ms per 704×576 snapshot as the service handles
it (its light, then its diagnosis with its previous snapshot, reference and normal). Last line: ``vqd_min_f1=<the lowest
F1 of any class in the scored sets>`` (target ≥ 0.95; diagnosis ≤ 20 ms median).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.image import History, Thresholds, calibrated, diagnose, judge, measure, pick_reference  # noqa: E402
from alerts.image import snapshot_light  # noqa: E402
from simulators.city import generate_city  # noqa: E402
from simulators.fleet import IMAGE_FAULTS, snapshot  # noqa: E402

REAL = ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "moon.png", "motorcycle_left.png",
        "motorcycle_right.png", "rocket.jpg", "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png"]
T0 = 1_796_000_000.0  # a day in November 2026; hours below are Beijing time
BEIJING = timezone(timedelta(hours=8))


class Sample(NamedTuple):
    expected: str | None
    current: bytes
    previous: bytes | None
    reference: bytes | None
    history: tuple[tuple[bytes, bytes], ...]  # healthy (previous, snapshot) pairs of the camera in this light


class Measured(NamedTuple):
    expected: str | None
    scores: dict
    normal: dict | None


def jpeg(img: np.ndarray, quality: int = 80) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def normal_of(history: Iterable[tuple[bytes, bytes]]) -> dict | None:
    h = History()
    for prev, cur in history:
        s = measure(cur, prev)
        h.add(s["light"], s)
    return next((h.normal(light) for light in ("colour", "grey", "night") if h.normal(light)), None)


def measured(samples: Iterable[Sample], label: str) -> list[Measured]:
    """Every sample measured once (the costly part), with a progress line."""
    out = []
    normals: dict[tuple, dict | None] = {}
    t = time.perf_counter()
    for k, s in enumerate(samples, 1):
        if s.history not in normals:
            normals[s.history] = normal_of(s.history)
        out.append(Measured(s.expected, measure(s.current, s.previous, s.reference), normals[s.history]))
        if k % 200 == 0:
            print(f"\r  {label}: {k} snapshots measured ({time.perf_counter() - t:.0f} s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def score(items: list[Measured], th: Thresholds) -> tuple[Counter, Counter, Counter, list]:
    tp, fp, fn = Counter(), Counter(), Counter()
    wrong = []
    for m in items:
        got = {f[6:] for f in judge(m.scores, th, m.normal)}
        want = {m.expected} if m.expected else set()
        tp.update(got & want)
        fp.update(got - want)
        fn.update(want - got)
        if got != want:
            wrong.append((m.expected, tuple(sorted(got))))
    return tp, fp, fn, wrong


def f1_by_class(tp: Counter, fp: Counter, fn: Counter) -> dict[str, tuple[float, float, float]]:
    out = {}
    for f in IMAGE_FAULTS:
        p = tp[f] / (tp[f] + fp[f]) if tp[f] + fp[f] else 1.0
        r = tp[f] / (tp[f] + fn[f]) if tp[f] + fn[f] else 1.0
        out[f] = (p, r, 2 * p * r / (p + r) if p + r else 0.0)
    return out


def report(name: str, items: list[Measured], th: Thresholds) -> dict[str, float]:
    tp, fp, fn, wrong = score(items, th)
    print(f"{name}: {len(items)} snapshots, {sum(tp.values())} faults found, {sum(fp.values())} false, "
          f"{sum(fn.values())} missed")
    for (expected, got), n in Counter(wrong).most_common(6):
        print(f"    {n}× expected {expected}, got {list(got)}")
    print(f"    {'class':<14} {'precision':>9} {'recall':>7} {'F1':>6}")
    out = {}
    for f, (p, r, f1) in f1_by_class(tp, fp, fn).items():
        print(f"    {f:<14} {p:>9.3f} {r:>7.3f} {f1:>6.3f}")
        out[f] = f1
    return out


# -- the simulators' cameras ---------------------------------------------------------------------
def simulated(seed: int, cells: int, severities: tuple[float, ...] = (1.0,)) -> Iterator[Sample]:
    """Every camera at 03:00, 09:00 and 15:00: healthy and with every fault (at each severity),
    against its snapshot of two hours before, with its healthy snapshots of the half hour before
    as its history."""
    city = generate_city(cells, seed)
    for cam in city.cameras:
        for hour in (3, 9, 15):
            t = T0 - T0 % 86_400 + (hour - 8) * 3600 + 86_400
            prev, ref = snapshot(cam, t - 300), snapshot(cam, t - 7200)
            history = tuple((snapshot(cam, t - 300 * (k + 1)), snapshot(cam, t - 300 * k)) for k in range(1, 7))
            yield Sample(None, snapshot(cam, t), prev, ref, history)
            yield Sample(None, snapshot(cam, t + 60), snapshot(cam, t), ref, history)  # traffic came and went
            for f in IMAGE_FAULTS:
                for sev in severities if f not in ("frozen", "signal_loss", "scene_change") else (1.0,):
                    cur = snapshot(cam, t, f, frozen_at=t - 300 if f == "frozen" else None, severity=sev)
                    yield Sample(f, cur, prev, ref, history)  # (frozen: the scene of the previous, the clock on)


# -- real photographs, as cameras ----------------------------------------------------------------
def photographs(names: list[str]) -> list[tuple[str, np.ndarray]]:
    """The named photographs of scikit-image (or matplotlib's sample data), in colour."""
    import skimage

    folders = [Path(skimage.__file__).parent / "data"]
    try:
        import matplotlib

        folders.append(Path(matplotlib.get_data_path()) / "sample_data")
    except ImportError:
        pass
    out = []
    for name in names:
        path = next(p for p in (f / name for f in folders) if p.exists())
        out.append((name, cv2.imread(str(path), cv2.IMREAD_COLOR)))
    return out


def framed(photo: np.ndarray, dx: float = 0.0, dy: float = 0.0, size=(704, 576)) -> np.ndarray:
    """The camera's view: the middle 70 % of the photograph (moved by dx, dy of its size), at size."""
    h, w = photo.shape[:2]
    cw, ch = int(w * 0.7), int(h * 0.7)
    x, y = int((w - cw) / 2 + dx * w), int((h - ch) / 2 + dy * h)
    return cv2.resize(photo[y:y + ch, x:x + cw], size, interpolation=cv2.INTER_AREA)


def in_light(img: np.ndarray, light: str) -> np.ndarray:
    if light == "infrared":
        return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if light == "night":  # a fifth of the light (gamma 2.2), the brightest 3 % (street lights, windows) still lit
        lit = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) >= np.percentile(img, 97)
        out = (255 * (img / 255.0) ** 2.2 * 0.2 + 0.5).astype(np.uint8)
        out[lit] = img[lit]
        return out
    return img


def gain(img: np.ndarray, g: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * g, 0, 255).astype(np.uint8)


def sensor(img: np.ndarray, seed: int, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def shaken(img: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.float32([[1, 0, int(rng.integers(1, 3))], [0, 1, int(rng.integers(0, 2))]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def osd(img: np.ndarray, ts: float, name: str) -> np.ndarray:
    """The camera's on-screen display: its clock (top left) and its name (bottom right)."""
    out = img.copy()
    clock = datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    for text, org in ((clock, (16, 36)), (name.split(".")[0].upper(), (img.shape[1] - 260, img.shape[0] - 20))):
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def disc(radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    return k / k.sum()


def no_video(shape, kind: int, ts: float, name: str) -> np.ndarray:
    """A recorder's screen for a channel with no picture."""
    h, w = shape[:2]
    screen = np.zeros(shape, np.uint8)
    if kind == 0:
        screen[:] = (160, 40, 0)  # the recorder's blue
    elif kind == 2:
        screen[:] = (96, 96, 96)
    elif kind == 3:  # colour bars
        for k, c in enumerate([(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0), (192, 0, 192),
                               (0, 0, 192), (192, 0, 0)]):
            screen[:, k * w // 7:(k + 1) * w // 7] = c
    text = ("NO VIDEO", "VIDEO LOSS", "NO SIGNAL", "NO SIGNAL")[kind]
    cv2.putText(screen, text, (w // 2 - 150, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3, cv2.LINE_AA)
    return osd(screen, ts, name)


def stripes_over(img: np.ndarray, amplitude: float, period: float, tilt: float, phase: float) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bars = amplitude * np.sin(2 * np.pi * (yy + tilt * xx / w) / period + phase)
    return np.clip(img + bars[..., None], 0, 255).astype(np.uint8)


def occluder(img: np.ndarray, left: float, seed: int) -> np.ndarray:
    """Something dark over the lens (a bag, a leaf, a sticker), irregular, leaving `left` of the view."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    edge = int(h * left)
    xs = np.linspace(0, w, 9)
    ys = edge + rng.normal(0, h * 0.03, xs.size)  # a wavy edge
    poly = np.array([[0, h], *zip(xs, ys), [w, h]], np.int32)
    out = img.copy()
    shade = int(rng.integers(10, 40) * min(1.0, img.mean() / 100))  # (lit by the scene's light: dark at night)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [poly], 255)
    cover = np.clip(shade + rng.normal(0, 1.0, img.shape), 0, 255).astype(np.uint8)
    out[mask > 0] = cover[mask > 0]
    return out


def cast(img: np.ndarray, channel: int, g: float) -> np.ndarray:
    out = img.astype(np.float32)
    out[..., channel] *= g
    return np.clip(out, 0, 255).astype(np.uint8)


SEVERITY = {  # three strengths of each fault, mild to strong
    "blur": (5, 8, 12),  # defocus disc radius, pixels at 704×576
    "dark": (0.12, 0.07, 0.03),  # gain
    "overexposed": ((2.0, 90), (2.5, 110), (3.0, 140)),  # gain, offset
    "occluded": (0.4, 0.3, 0.2),  # the share of the view left
    "colour_cast": (1.7, 2.0, 2.4),  # one channel's white-balance gain
    "noise": (22, 35, 55),  # sigma
    "stripe": (14, 22, 34),  # amplitude of the bars, grey levels
    "ptz_drift": ((0.1, 0.0), (0.0, 0.1), (0.13, 0.05)),  # the view moved by this share of the photograph
}


def real(photos: list[tuple[str, np.ndarray]], with_references: bool = True) -> Iterator[Sample]:
    """Each photograph as two cameras (infrared at night; low-light colour at night), every
    snapshot judged against the reference the alert service picks for its light and hour."""
    for k, (name, photo) in enumerate(photos):
        other_photo = photos[(k + 1) % len(photos)][1]
        for lights in (("day", "infrared"), ("night",)):
            refs = {}
            for lt in ("day", *lights):  # references taken hours earlier, in other light
                r = jpeg(osd(sensor(gain(in_light(framed(photo), lt), 0.8 if k % 2 else 1.2), k + 99), T0 - 9000, name))
                refs[snapshot_light(r)] = r
            for light in lights:
                yield from _camera(name, photo, other_photo, light, refs, k, with_references)


def _camera(name, photo, other_photo, light, refs, k, with_references) -> Iterator[Sample]:
    sigma = 3.0 if light == "night" else 2.0
    view = in_light(framed(photo), light)
    at = T0 + 3600 * k
    frame = lambda img, t, seed: jpeg(osd(sensor(img, seed, sigma), t, name))  # noqa: E731
    history = tuple((frame(view, at - 300 * (j + 1), 1000 * k + j), frame(view, at - 300 * j, 1000 * k + j + 1))
                    for j in range(1, 7)) if with_references else ()
    prev_raw = sensor(view, 7 * k + 1, sigma)
    prev = jpeg(osd(prev_raw, at - 300, name))

    def sample(expected, current, previous=prev):
        ref = pick_reference(refs, snapshot_light(current), light == "day") if with_references else None
        return Sample(expected, current, previous, ref, history)

    yield sample(None, frame(view, at, 7 * k + 2))  # static: nothing moved, only the noise differs
    yield sample(None, frame(shaken(view, k), at, 7 * k + 3))
    yield sample(None, frame(gain(view, 1.3 if light == "day" else 1.15), at, 7 * k + 4))  # the light changed
    for sev in range(3):
        s = SEVERITY
        yield sample("blur", frame(cv2.filter2D(view, -1, disc(s["blur"][sev])), at, sev))
        yield sample("dark", frame(gain(view, s["dark"][sev]), at, sev))
        g, o = s["overexposed"][sev]
        yield sample("overexposed", frame(np.clip(view.astype(np.float32) * g + o, 0, 255).astype(np.uint8), at, sev))
        yield sample("occluded", frame(occluder(view, s["occluded"][sev], k + sev), at, sev))
        if light != "infrared":  # (an infrared frame has no colour to cast)
            yield sample("colour_cast", frame(cast(view, (k + sev) % 3, s["colour_cast"][sev]), at, sev))
        yield sample("noise", jpeg(osd(sensor(view, sev, s["noise"][sev]), at, name)))
        yield sample("signal_loss", jpeg(no_video(view.shape, (k + sev) % 4, at, name)))
        yield sample("stripe", frame(stripes_over(view, s["stripe"][sev], 576 / (6 + 5 * sev), 8 * sev, k), at, sev))
        dx, dy = s["ptz_drift"][sev]
        yield sample("ptz_drift", frame(in_light(framed(photo, dx, dy), light), at, sev))
    yield sample("frozen", jpeg(osd(prev_raw, at, name)))  # the same frame again, the clock ticking on
    yield sample("frozen", prev)  # the very same snapshot again
    yield sample("scene_change", frame(in_light(framed(other_photo), light), at, 5))


def speed() -> tuple[float, float]:
    """ms per snapshot of 704×576 as the service handles it (its light, then its diagnosis with the
    previous snapshot, the reference and the camera's normal): each snapshot new (a decode of its
    own), the previous one the snapshot before (median, p95)."""
    photo = framed(photographs(["motorcycle_left.png"])[0][1])
    frames = [jpeg(sensor(photo, k)) for k in range(40)]  # (more than the decoder's cache holds)
    ref = jpeg(sensor(photo, 99))
    normal = {"still": 0.2, "noise": 1.0, "blur": 0.2}
    runs = []
    for k in range(200):
        cur, prev = frames[k % len(frames)], frames[(k - 1) % len(frames)]
        t = time.perf_counter()
        snapshot_light(cur)
        diagnose(cur, prev, ref, normal)
        runs.append(time.perf_counter() - t)
    return 1000 * float(np.median(runs)), 1000 * float(np.percentile(runs, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=200, help="cells of the unseen simulated city")
    args = ap.parse_args()
    th = calibrated()
    print(f"cv2 {cv2.__version__}, {os.cpu_count()} cores; thresholds from alerts/vqd_thresholds.json "
          f"(bench/calibrate_vqd.py)")
    photos = photographs(REAL)
    f1s = {}
    for name, samples, scored in [("unseen simulated (seed 11)", simulated(11, args.cells, (0.6, 1.0)), True),
                                  ("real photographs (day, infrared, night)", real(photos), True),
                                  ("real photographs, no reference or history yet (not in the score)",
                                   real(photos, with_references=False), False)]:
        for f, f1 in report(name, measured(samples, name), th).items():
            if scored:
                f1s[(name, f)] = f1
    median, p95 = speed()
    print(f"a 704×576 snapshot as the service handles it (light, then diagnosis with previous, reference and "
          f"normal): median {median:.1f} ms, p95 {p95:.1f} ms (target ≤ 20 ms)")
    worst = min(f1s, key=f1s.get)
    print(f"lowest: {worst[1]} on {worst[0]}")
    print(f"vqd_min_f1={f1s[worst]:.3f}")


if __name__ == "__main__":
    main()
