"""The ground truth of a scenario, and the comparison of the product's figures with it.

The truth is computed from what the generator knows — each unit's exact planned position at
every second, which of its fixes reached the ingest, each camera's planned up and down times,
each checkpoint's planned check-ins — by a plain implementation of the rules in the README
("How coverage is decided"): per-second sampling, shapely point-in-polygon in a flat local
frame, boolean arrays over the seconds of the period. It shares no code with the module it
judges (geofence.coverage, geofence.uptime, geofence.staffing): slow and obvious on purpose.

GPS noise, the fix interval and the interpolation between fixes make some answers ambiguous.
So every verdict is worked out twice: once reading each doubtful second in the cell's favour
(a position within ``margin_m`` of the cell counts as in it, a stay ``margin_s`` short of the
dwell counts, a gap ``margin_s`` over the revisit interval passes) and once against it (only
positions ``margin_m`` inside count, and so on). Where the readings differ the truth lists
every status they give ("either"), and an answer among them agrees.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np
import shapely

COVERED, NOT_COVERED, UNKNOWN = "covered", "not_covered", "unknown"
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class TruthStandard:
    """The standards, as plain numbers (the same defaults as the product's settings)."""

    max_gap_s: float = 300
    min_dwell_s: Mapping[str, float] = field(default_factory=lambda: {"foot": 60, "bike": 60, "car": 30})
    revisit_key_minutes: float = 60
    revisit_normal_minutes: float = 240
    active_from: str = "00:00"
    active_to: str = "00:00"
    timezone: str = "Asia/Shanghai"
    min_camera_uptime: float = 0.95
    min_checkpoint_compliance: float = 0.90
    key_categories: tuple[str, ...] = ("main_street", "busy_junction", "key_department", "key_site",
                                       "perimeter_junction")
    image_confirm: int = 2  # consecutive snapshots showing a fault before its alert opens
    offline_for_s: float = 120  # how long a camera is offline before its alert opens …
    offline_clear_s: float = 600  # … and the longest its alert (offline, flapping) stays open after it is back
    understaffed_for_s: float = 300  # how long a checkpoint is understaffed before its alert opens
    out_of_area_for_s: float = 300  # how long a unit is out of its team's area before its alert opens
    team_minimum: int = 10  # officers a township team needs in a shift
    indicator_target: float = 0.90  # the defence-system coverage a street or district must reach
    team_shifts: tuple[str, ...] = ("00:00", "08:00", "16:00", "24:00")  # the day's shift boundaries
    margin_m: float = 25.0  # GPS noise (a few metres, 3σ) and the product's 25 m steps
    margin_s: float = 10.0  # the fix interval


@dataclass(frozen=True)
class UnitPlan:
    unit_id: str
    kind: str
    officers: tuple[str, ...]
    path: Any  # simulators.fleet.Path: the exact position at any time
    fixes: np.ndarray  # the times of the fixes the ingest accepted


@dataclass(frozen=True)
class CameraPlan:
    camera_id: str
    category: str
    lon: float
    lat: float
    down: Sequence[tuple[float, float]]  # planned down intervals


@dataclass(frozen=True)
class CheckpointPlan:
    checkpoint_id: str
    lon: float
    lat: float
    radius_m: float
    min_staff: int
    schedule: Sequence[Mapping[str, str]]
    checkins: Sequence[tuple[str, float, float]]  # (officer, on, off)


# -- a flat frame: metres east and north of the city's centre ------------------------------------
class _Flat:
    def __init__(self, lon0: float, lat0: float):
        self.lon0, self.lat0 = lon0, lat0
        self.kx = 111_320.0 * math.cos(math.radians(lat0))
        self.ky = 110_574.0

    def xy(self, lon, lat):
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def geom(self, g):
        return shapely.transform(g, lambda c: np.column_stack(self.xy(c[:, 0], c[:, 1])))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs of True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0], strict=True))


def _minutes(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


class GroundTruth:
    """Works the truth out for [start, end) (whole seconds) over a grid."""

    def __init__(self, grid, start: float, end: float, std: TruthStandard = TruthStandard(),
                 unobserved: Sequence[tuple[float, float]] = ()):
        """unobserved: stretches in which no ingest was receiving (an outage): unknown everywhere."""
        self.grid, self.std = grid, std
        self.start, self.end = int(start), int(end)
        self.n = self.end - self.start
        self.blind = np.zeros(self.n, dtype=bool)  # per second: nobody receiving
        for a, b in unobserved:
            self.blind[max(0, int(a) - self.start):max(0, min(self.n, int(b) - self.start))] = True
        self.leaves = grid.leaves
        centre = _level(grid, "city")[0].geometry.centroid
        self.flat = _Flat(centre.x, centre.y)
        self.cells = [self.flat.geom(c.geometry) for c in self.leaves]
        self.tree = shapely.STRtree(self.cells)
        self.secs = np.arange(self.start, self.end, dtype=float)
        self.active = self._active_seconds()

    # -- time ---------------------------------------------------------------------------------------
    def _local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, ZoneInfo(self.std.timezone))

    def _active_seconds(self) -> np.ndarray:
        a, b = _minutes(self.std.active_from), _minutes(self.std.active_to)
        if a == b:
            return np.ones(self.n, dtype=bool)
        out = np.zeros(self.n, dtype=bool)
        for k in range(0, self.n, 60):  # a minute at a time: the hours are whole minutes
            lt = self._local(self.start + k)
            m = lt.hour * 60 + lt.minute
            out[k:k + 60] = (a <= m < b) if a < b else (m >= a or m < b)
        return out

    # -- where things are -----------------------------------------------------------------------
    def _membership(self, lon: np.ndarray, lat: np.ndarray, margin: float) -> tuple[np.ndarray, list[np.ndarray]]:
        """For each point: the cell it is surely in (at least `margin` inside; -1 if none) and
        the (point, cell) pairs of every cell it may be in (within `margin`)."""
        x, y = self.flat.xy(lon, lat)
        pts = shapely.points(x, y)
        sure = np.full(len(pts), -1, dtype=np.int64)
        pi, ci = self.tree.query(pts, predicate="within")
        deep = shapely.distance(pts[pi], shapely.boundary(np.array(self.cells, dtype=object)[ci])) >= margin
        sure[pi[deep]] = ci[deep]
        mi, mc = self.tree.query(pts, predicate="dwithin", distance=margin)
        return sure, [mi, mc]

    # -- patrol ----------------------------------------------------------------------------------------
    def patrol(self, units: Iterable[UnitPlan]) -> dict[str, list[str]]:
        """Every cell's possible patrol statuses (and, in ``self.gap_openings``, when its failing
        gaps failed, per reading)."""
        std = self.std
        n, L = self.n, len(self.leaves)
        # per reading (favourable, unfavourable): cell → visited seconds, cell → silent seconds
        visited = [np.zeros((L, n), dtype=bool) for _ in range(2)]
        silent = [np.zeros((L, n), dtype=bool) for _ in range(2)]
        for u in units:
            self._unit(u, visited, silent)
        for reading in silent:  # nothing was received: every cell unknown
            reading |= self.blind
        out = {}
        self.gap_openings: dict[str, list[list[float]]] = {}
        self.gap_windows: dict[str, list[list[tuple[float, float]]]] = {}  # … and until the next visit began
        revisit = [60 * (c.revisit_minutes or (std.revisit_key_minutes if str(c.priority) == "key"
                                               else std.revisit_normal_minutes)) for c in self.leaves]
        for i, cell in enumerate(self.leaves):
            found = set()
            openings = []
            for favour, doubt in itertools.product((0, 1), (0, 1)):
                limit = revisit[i] + (std.margin_s if favour == 0 else -std.margin_s)
                status = self._status(visited[favour][i], silent[doubt][i], limit)
                found.add(status)
                openings.append(self._failed_at(visited[favour][i], silent[doubt][i], limit, status))
            out[cell.id] = sorted(found)
            self.gap_openings[cell.id] = [[a for a, _ in r] for r in openings]
            self.gap_windows[cell.id] = openings
        return out

    def _failed_at(self, visited: np.ndarray, silent: np.ndarray, limit: float,
                   status: str) -> list[tuple[float, float]]:
        """When each gap without a visit failed — the moment a stretch of it with nothing unknown in
        it had run past `limit` of active time (a live rule opens its coverage gap then) — and when
        the next visit began (or the period ended); a cell never visited that fails only as a whole
        (no visit, not covered) fails at the period's end."""
        act = self.active
        out: list[tuple[float, float]] = []
        for s, e in _runs(~visited):
            holes = silent[s:e] & act[s:e]
            for a, b in _runs(~holes):
                run = np.cumsum(act[s + a:s + b])
                k = int(np.searchsorted(run, limit, side="right"))
                if k < len(run):
                    out.append((float(self.start + s + a + k + 1), float(self.start + e)))
                    break
        if not out and not visited.any() and status == NOT_COVERED:
            out.append((float(self.end), float(self.end)))
        return out

    def _unit(self, u: UnitPlan, visited, silent) -> None:
        std, n = self.std, self.n
        fixes = np.sort(u.fixes)
        if len(fixes) < 2:
            return
        k = np.searchsorted(fixes, self.secs, side="right") - 1
        inside = (k >= 0) & (k < len(fixes) - 1)
        a = np.where(inside, fixes[np.clip(k, 0, len(fixes) - 2)], np.nan)
        b = np.where(inside, fixes[np.clip(k + 1, 0, len(fixes) - 1)], np.nan)
        tracked = inside & (b - a <= std.max_gap_s)
        # tracked: the exact position, and the straight line between the exact positions at the fixes
        t = np.nonzero(tracked)[0]
        plon, plat = u.path.at(self.secs[t])
        alon, alat = u.path.at(a[t])
        blon, blat = u.path.at(b[t])
        f = (self.secs[t] - a[t]) / (b[t] - a[t])
        llon, llat = alon + (blon - alon) * f, alat + (blat - alat) * f
        sure_p, maybe_p = self._membership(plon, plat, std.margin_m)
        sure_l, maybe_l = self._membership(llon, llat, std.margin_m)
        here = [np.zeros((len(self.leaves), len(t)), dtype=bool) for _ in range(2)]
        here[0][maybe_p[1], maybe_p[0]] = True
        here[0][maybe_l[1], maybe_l[0]] = True
        agree = (sure_p >= 0) & (sure_p == sure_l)
        here[1][sure_p[agree], np.nonzero(agree)[0]] = True
        dwell = std.min_dwell_s.get(u.kind, 0)
        for favour in (0, 1):
            need = dwell - std.margin_s if favour == 0 else dwell + std.margin_s
            for c in np.nonzero(here[favour].any(axis=1))[0]:
                full = np.zeros(n, dtype=bool)
                full[t[here[favour][c]]] = True
                for s, e in _runs(full):
                    if e - s >= need:
                        visited[favour][c, s:e] = True
        # silent stretches: the cells along the straight line between the fixes around them
        for s, e in _runs(inside & ~tracked):
            fa, fb = a[s], b[s]
            (alon, alat), (blon, blat) = u.path.at(fa), u.path.at(fb)
            x0, y0 = self.flat.xy(alon, alat)
            x1, y1 = self.flat.xy(blon, blat)
            m = max(2, int(math.hypot(x1 - x0, y1 - y0) / 5) + 2)
            f = np.linspace(0, 1, m)
            sure, maybe = self._membership(alon + (blon - alon) * f, alat + (blat - alat) * f, std.margin_m)
            for c in set(maybe[1].tolist()):
                silent[0][c, s:e] = True
            for c in set(sure[sure >= 0].tolist()):
                silent[1][c, s:e] = True

    def _status(self, visited: np.ndarray, silent: np.ndarray, limit: float) -> str:
        act = self.active
        gaps = _runs(~visited)
        failing = [(s, e) for s, e in gaps if act[s:e].sum() > limit]
        if not visited.any():
            failing = [(0, self.n)]
        if not failing:
            return COVERED
        for s, e in failing:
            holes = silent[s:e] & act[s:e]
            if not holes.any():
                return NOT_COVERED
            known = [act[s:e][a:b].sum() for a, b in _runs(~holes)]
            if max(known, default=0) > limit:
                return NOT_COVERED
        return UNKNOWN

    # -- units out of their team's area -------------------------------------------------------------
    def out_of_area(self, unit: UnitPlan, area_id: str, on: float, off: float) -> list[list[tuple[float, float]]]:
        """[start, end) runs of seconds on duty in which the unit's exact position is outside its
        team's area: surely (more than margin_m outside) and possibly (less than margin_m inside)."""
        area = self.flat.geom(self.grid.cells[area_id].geometry)
        k = np.nonzero((self.secs >= on) & (self.secs < off))[0]
        if not len(k):
            return [[], []]
        x, y = self.flat.xy(*unit.path.at(self.secs[k]))
        pts = shapely.points(x, y)
        inside = shapely.contains(area, pts)
        depth = shapely.distance(pts, area.boundary)
        out = []
        for outside in (~inside & (depth > self.std.margin_m), ~inside | (depth < self.std.margin_m)):
            mask = np.zeros(self.n, dtype=bool)
            mask[k[outside]] = True
            out.append([(self.start + float(a), self.start + float(b)) for a, b in _runs(mask)])
        return out

    # -- team strength -------------------------------------------------------------------------------
    def shift_pieces(self) -> list[tuple[float, float]]:
        """The period cut at the day's shift boundaries (city time)."""
        cuts = {self.start, self.end}
        t = self.start - 86_400
        while t < self.end + 86_400:
            day = self._local(t).replace(hour=0, minute=0, second=0, microsecond=0)
            for hhmm in self.std.team_shifts:
                edge = (day + timedelta(minutes=_minutes(hhmm))).timestamp()
                if self.start < edge < self.end:
                    cuts.add(edge)
            t += 86_400
        edges = sorted(cuts)
        return list(zip(edges[:-1], edges[1:], strict=True))

    def under_strength(self, teams: Mapping[str, Sequence[UnitPlan]]) -> list[tuple[str, float, float, int]]:
        """(team, piece start, piece end, officers seen) for every team short of the minimum in a
        piece of a shift: officers aboard a unit of the team that sent an accepted fix in it."""
        out = []
        for a, b in self.shift_pieces():
            if self.blind[int(a) - self.start:int(b) - self.start].sum() > (b - a) / 2:
                continue  # received less than half of it: unknown
            for team, plans in sorted(teams.items()):
                seen = {o for u in plans if ((u.fixes >= a) & (u.fixes < b)).any() for o in u.officers}
                if len(seen) < self.std.team_minimum:
                    out.append((team, a, b, len(seen)))
        return out

    # -- sites -------------------------------------------------------------------------------------
    def _cells_of(self, lon: float, lat: float, tolerance_m: float = 0.5) -> list[str]:
        """The cell a site lies in; every cell it may lie in when it is on (or within a hair of)
        an edge, where the product's tie rule and floating point decide."""
        p = shapely.points(*self.flat.xy(lon, lat))
        near = self.tree.query(p, predicate="dwithin", distance=tolerance_m)
        inside = [i for i in near if self.cells[i].covers(p)]
        if len(inside) == 1 and shapely.distance(p, self.cells[inside[0]].boundary) > tolerance_m:
            return [self.leaves[inside[0]].id]
        return sorted(self.leaves[i].id for i in near)

    # -- cameras -------------------------------------------------------------------------------------
    def cameras(self, cameras: Iterable[CameraPlan]) -> dict[str, dict[str, Any]]:
        out = {}
        for c in cameras:
            down = np.zeros(self.n, dtype=bool)
            for a, b in c.down:
                down[max(0, int(a) - self.start):max(0, min(self.n, int(b) - self.start))] = True
            known = self.n - int(self.blind.sum())
            up, unknown = int((~down & ~self.blind).sum()), int(self.blind.sum())
            uptime = float(up / known) if known else 0.0  # of the known time
            status = _share_status(up, unknown, self.n, self.std.min_camera_uptime)
            out[c.camera_id] = {"cells": self._cells_of(c.lon, c.lat), "category": c.category, "uptime": uptime,
                                "status": [status]}
        return out

    # -- checkpoints ---------------------------------------------------------------------------------
    def checkpoints(self, checkpoints: Iterable[CheckpointPlan], units: Sequence[UnitPlan]) -> dict[str, dict]:
        std = self.std
        out = {}
        for cp in checkpoints:
            scheduled, staffed_by = self._staffing(cp, units)
            unknown = scheduled & self._blind_minutes()
            readings = [(staffed & ~unknown).sum() / scheduled.sum() if scheduled.sum() else 1.0 for staffed in staffed_by]
            lo, hi = min(readings), max(readings)
            statuses = {_share_status(r * scheduled.sum(), unknown.sum(), scheduled.sum(), std.min_checkpoint_compliance)
                        if scheduled.sum() else COVERED for r in (lo, hi)}
            out[cp.checkpoint_id] = {"cells": self._cells_of(cp.lon, cp.lat),
                                     "compliance": [float(lo), float(hi)], "status": sorted(statuses)}
        return out

    def understaffed_runs(self, cp: CheckpointPlan, units: Sequence[UnitPlan]) -> list[list[tuple[int, int]]]:
        """[start, end) minute runs of scheduled minutes below min_staff, in the favourable
        reading (officers within radius + margin count) and in the unfavourable one."""
        scheduled, staffed_by = self._staffing(cp, units)
        known = scheduled & ~self._blind_minutes()
        return [[(int(a), int(b)) for a, b in _runs(known & ~staffed)] for staffed in staffed_by]

    def _blind_minutes(self) -> np.ndarray:
        """Per minute of the period: some second of it nobody was receiving."""
        minutes = -(-self.n // 60)
        padded = np.zeros(minutes * 60, dtype=bool)
        padded[:self.n] = self.blind
        return padded.reshape(minutes, 60).any(axis=1)

    def _staffing(self, cp: CheckpointPlan, units: Sequence[UnitPlan]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per minute: scheduled, and staffed in each reading (favourable first)."""
        std = self.std
        minutes = -(-self.n // 60)
        scheduled = np.array([self._scheduled(cp.schedule, self.start + 60 * m) for m in range(minutes)])
        readings = []
        for favour in (0, 1):
            present: list[set[str]] = [set() for _ in range(minutes)]
            for officer, on, off in cp.checkins:
                for m in range(minutes):
                    if self.start + 60 * m < off and self.start + 60 * (m + 1) > on:
                        present[m].add(officer)
            reach = cp.radius_m + (std.margin_m if favour == 0 else -std.margin_m)
            cx, cy = self.flat.xy(cp.lon, cp.lat)
            for u in units:
                at = u.fixes[(u.fixes >= self.start) & (u.fixes < self.end)]
                x, y = self.flat.xy(*u.path.at(at))
                for t in at[np.hypot(x - cx, y - cy) <= reach]:
                    present[int((t - self.start) // 60)].update(u.officers)
            readings.append(scheduled & np.array([len(p) >= cp.min_staff for p in present]))
        return scheduled, readings

    def _scheduled(self, schedule: Sequence[Mapping[str, str]], t: float) -> bool:
        if not schedule:
            return True
        lt = self._local(t)
        m = lt.hour * 60 + lt.minute
        for entry in schedule:
            days = _days(entry.get("days", "mon-sun"))
            a, b = _minutes(entry.get("start", "00:00")), _minutes(entry.get("end", "24:00"))
            if b > a and lt.weekday() in days and a <= m < b:
                return True
            if b <= a and ((lt.weekday() in days and m >= a) or ((lt - timedelta(days=1)).weekday() in days and m < b)):
                return True
        return False

    # -- everything ----------------------------------------------------------------------------------
    def compute(self, units: Sequence[UnitPlan], cameras: Sequence[CameraPlan],
                checkpoints: Sequence[CheckpointPlan]) -> dict[str, Any]:
        patrol = self.patrol(units)
        cams = self.cameras(cameras)
        cps = self.checkpoints(checkpoints, units)
        key = {k: c for k, c in cams.items() if c["category"] in self.std.key_categories}
        cells: dict[str, dict] = {}
        for cell in self.leaves:
            cam_set = _sites_part([c for c in key.values() if cell.id in c["cells"]], cell.id)
            cp_set = _sites_part([c for c in cps.values() if cell.id in c["cells"]], cell.id)
            cells[cell.id] = {"patrol": patrol[cell.id], "cameras": cam_set, "checkpoints": cp_set,
                              "status": _combine_all([patrol[cell.id], cam_set, cp_set])}
        areas: dict[str, dict[str, list[float]]] = {}
        known: dict[str, dict[str, list[float]]] = {}  # the share covered or unknown: not surely short
        for level in ("street", "district", "city"):
            areas[level], known[level] = {}, {}
            for area in _level(self.grid, level):
                under = [c.id for c in self.leaves if area.id in self.grid.ancestors[c.id]]
                sure = sum(cells[c]["status"] == [COVERED] for c in under)
                maybe = sum(COVERED in cells[c]["status"] for c in under)
                areas[level][area.id] = [sure / len(under), maybe / len(under)]
                known[level][area.id] = [sum(NOT_COVERED not in cells[c]["status"] for c in under) / len(under),
                                         sum(cells[c]["status"] != [NOT_COVERED] for c in under) / len(under)]
        return {"cells": cells, "cameras": cams, "checkpoints": cps, "areas": areas, "not_short": known,
                "gap_openings": self.gap_openings, "gap_windows": self.gap_windows}


def _share_status(good: float, unknown: float, total: float, minimum: float) -> str:
    """A share against its minimum: met even were every unknown moment failed, failed even were
    they all good, else unknown (and unknown where nothing is known)."""
    if total <= 0:
        return COVERED
    if unknown >= total:
        return UNKNOWN
    if good / total >= minimum:
        return COVERED
    return NOT_COVERED if (good + unknown) / total < minimum else UNKNOWN


def _level(grid, name: str) -> list:
    return sorted((c for c in grid.cells.values() if str(c.level) == name), key=lambda c: c.id)


def _days(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            i, j = (DAYS.index(x) for x in part.split("-"))
            out.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        else:
            out.add(DAYS.index(part))
    return out


NONE = "none"  # a cell without any site of the kind


def _sites_part(sites: Sequence[Mapping[str, Any]], cell_id: str) -> list[str]:
    """The statuses a cell's part made of these sites (cameras or checkpoints) can have: every
    site that surely lies in it counts, one that may lie in it (on an edge) may or may not."""
    sure = [s["status"] for s in sites if s["cells"] == [cell_id]]
    maybe = [s["status"] for s in sites if s["cells"] != [cell_id]]
    found = set()
    for k in range(len(maybe) + 1):
        for chosen in itertools.combinations(maybe, k):
            options = sure + list(chosen)
            found.update(_combine_all(options) if options else [NONE])
    return sorted(found)


def _combine(parts: Sequence[str]) -> str:
    parts = [p for p in parts if p != NONE]
    if NOT_COVERED in parts:
        return NOT_COVERED
    if UNKNOWN in parts:
        return UNKNOWN
    return COVERED


def _combine_all(options: Sequence[Sequence[str]]) -> list[str]:
    """Every status the parts' possible statuses can combine to."""
    return sorted({_combine(choice) for choice in itertools.product(*options)})


# -- the comparison ----------------------------------------------------------------------------------
def compare(truth: Mapping[str, Any], product: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each part of the product's answer against the truth: agreements out of the total, how
    many the truth leaves open ("either"), and every disagreement.

    product: {"cells": {id: {"status", "patrol", "cameras", "checkpoints"}}, "cameras": {id: uptime},
    "checkpoints": {id: compliance}, "areas": {level: {id: covered share}}}.
    """
    out: dict[str, dict[str, Any]] = {}
    for part in ("patrol", "cameras", "checkpoints", "status"):
        rows = []
        for cid, t in truth["cells"].items():
            expect = t[part]
            got = product["cells"].get(cid, {}).get(part) or NONE
            if expect == [NONE] and got == NONE:
                continue  # no such site in the cell, and the product agrees
            rows.append((cid, expect, got, got in expect))
        out["cells" if part == "status" else part] = _tally(rows)
    rows = []
    for cam_id, t in truth["cameras"].items():
        if not t["cells"] or t["category"] not in TruthStandard().key_categories:
            continue
        got = product["cameras"].get(cam_id)
        rows.append((cam_id, round(t["uptime"], 6), None if got is None else round(got, 6),
                     bool(got is not None and abs(got - t["uptime"]) <= 1e-4)))
    out["camera_uptime"] = _tally(rows)
    rows = []
    for cp_id, t in truth["checkpoints"].items():
        got = product["checkpoints"].get(cp_id)
        lo, hi = t["compliance"]
        rows.append((cp_id, [lo, hi], got, bool(got is not None and lo - 1e-9 <= got <= hi + 1e-9)))
    out["checkpoint_compliance"] = _tally(rows)
    rows = []
    for level, areas in truth["areas"].items():
        for area_id, (lo, hi) in areas.items():
            got = product["areas"].get(level, {}).get(area_id)
            rows.append((f"{level} {area_id}", [lo, hi], got, bool(got is not None and lo - 1e-9 <= got <= hi + 1e-9)))
    out["roll_ups"] = _tally(rows)
    return out


def _tally(rows: list[tuple[str, Any, Any, bool]]) -> dict[str, Any]:
    return {"agree": sum(bool(ok) for *_, ok in rows), "total": len(rows),
            "either": sum(isinstance(e, list) and len(e) > 1 and isinstance(e[0], str) for _, e, _, _ in rows),
            "disagreements": [{"id": i, "truth": e, "product": g} for i, e, g, ok in rows if not ok]}


# -- alerts ------------------------------------------------------------------------------------------
def score_alerts(expected: Sequence[Mapping[str, Any]], product: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The product's alerts against the ones the scenario must raise, one to one: an alert is right
    when it has the type and subject of an expected one (or an optional one) not yet matched and
    opened inside that one's window; a second alert for one expectation (raised twice, or closed and
    opened again) is a false positive. Precision: right alerts / alerts raised; recall: expected
    alerts raised / expected. "optional" counts those where the truth allows either."""
    def fits(e, p) -> bool:
        return e["type"] == p["type"] and e["subject"] == p["subject"] and e["from"] <= p["opened_at"] <= e["to"]

    must = [e for e in expected if not e.get("optional")]
    order = [*must, *(e for e in expected if e.get("optional"))]  # an alert matches what it must first
    taken: set[int] = set()
    right = []
    for p in sorted(product, key=lambda p: p["opened_at"]):
        k = next((i for i, e in enumerate(order) if i not in taken and fits(e, p)), None)
        if k is not None:
            taken.add(k)
            right.append(p)
    found = [i for i in range(len(must)) if i in taken]
    return {"precision": len(right) / len(product) if product else 1.0,
            "recall": len(found) / len(must) if must else 1.0,
            "expected": len(must), "optional": len(expected) - len(must), "raised": len(product),
            "missed": [{"type": e["type"], "subject": e["subject"], "from": e["from"], "to": e["to"]}
                       for i, e in enumerate(must) if i not in taken],
            "unexpected": [{"type": p["type"], "subject": p["subject"], "opened_at": p["opened_at"]}
                           for p in product if p not in right]}
