"""Patrol coverage of the grid over a period: visits per cell from tracks, the longest gap
between visits against the cell's revisit standard, and roll-ups to street, district, city.

The rules, for an auditor:

1. **Tracks.** Each unit's fixes are taken in time order (late arrivals are sorted in; exact
   repeats are dropped). Between two consecutive fixes at most ``max_gap_s`` apart the unit is
   assumed to move in a straight line at constant speed; the segment is cut into steps of at
   most ``step_m`` metres, and each step's time is spent in the cell holding its midpoint. So
   a unit that crosses a cell between two fixes is in that cell for the time the crossing
   takes.
2. **Unknown.** Two consecutive fixes further apart than ``max_gap_s`` are a stretch where the
   unit's whereabouts are unknown: it is never counted as a visit, and the cells along the
   straight line between the two fixes are marked unknown for that time.
3. **Visits.** A visit is an unbroken stay of one unit in one cell of at least the unit kind's
   minimum dwell (``min_dwell_s``).
4. **Gaps.** Time counts only inside the daily active hours, in the city's time zone
   (Asia/Shanghai by default; a window such as 20:00–06:00 runs over midnight). A gap is the
   active time from the start of the period, or the end of a visit, to the start of the next
   visit, or the end of the period.
5. **Status.** A cell is *covered* when it had at least one visit and its longest gap is at
   most its revisit interval (its own ``revisit_minutes``, else the default for its priority).
   Otherwise — no visit, or a longer gap — it is *unknown* if that gap (or, without visits, the
   period) overlaps a stretch in which the cell was marked unknown, since data gaps never count
   as covered, and *not covered* if not.
6. **Roll-up.** At every level, coverage is the covered share of the leaf cells below, by
   count or by geodesic area, with the unknown share reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np
from pyproj import Geod

from .crs import geodesic_area_m2
from .grid import Grid, Level, Priority
from .lookup import CellIndex

_GEOD = Geod(ellps="WGS84")


class CellStatus(StrEnum):
    COVERED = "covered"
    NOT_COVERED = "not_covered"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PatrolStandard:
    max_gap_s: float = 300.0
    step_m: float = 25.0
    min_dwell_s: Mapping[str, float] = field(default_factory=lambda: {"foot": 60.0, "bike": 60.0, "car": 30.0})
    revisit_minutes: Mapping[Priority, float] = field(
        default_factory=lambda: {Priority.KEY: 60.0, Priority.NORMAL: 240.0})
    active_from: time = time(0, 0)
    active_to: time = time(0, 0)  # equal to active_from: all day
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class Track:
    unit_id: str
    kind: str
    ts: np.ndarray  # epoch seconds
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def of(cls, unit_id: str, kind: str, ts: Sequence[float], lon: Sequence[float], lat: Sequence[float]) -> "Track":
        ts, lon, lat = (np.asarray(a, dtype=float) for a in (ts, lon, lat))
        order = np.lexsort((lat, lon, ts))
        ts, lon, lat = ts[order], lon[order], lat[order]
        keep = np.ones(len(ts), dtype=bool)
        keep[1:] = ts[1:] != ts[:-1]  # one position per instant: the first after sorting
        return cls(unit_id, kind, ts[keep], lon[keep], lat[keep])


@dataclass(frozen=True)
class CellCoverage:
    cell_id: str
    visits: int
    longest_gap_s: float  # in active seconds
    revisit_s: float
    status: CellStatus


@dataclass(frozen=True)
class LevelCoverage:
    area_id: str
    level: Level
    cells: int
    covered: float  # share, by count or area
    unknown: float
    not_covered: float


@dataclass
class _Stays:
    """Unbroken stays (unit, cell, start, end) and unknown stretches (cell, start, end)."""

    cell: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)
    end: list[np.ndarray] = field(default_factory=list)
    unknown_cell: list[np.ndarray] = field(default_factory=list)
    unknown_start: list[np.ndarray] = field(default_factory=list)
    unknown_end: list[np.ndarray] = field(default_factory=list)


def _steps(lon0, lat0, lon1, lat1, t0, t1, step_m: float, cap: int):
    """Cut each segment into steps of at most step_m: midpoints and their time spans."""
    dist = _GEOD.inv(lon0, lat0, lon1, lat1)[2]
    n = np.clip(np.ceil(dist / step_m), 1, cap).astype(np.int64)
    seg = np.repeat(np.arange(len(n)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    f_mid = (k + 0.5) / n[seg]
    f0, f1 = k / n[seg], (k + 1) / n[seg]
    lon = lon0[seg] + (lon1[seg] - lon0[seg]) * f_mid
    lat = lat0[seg] + (lat1[seg] - lat0[seg]) * f_mid
    dt = t1[seg] - t0[seg]
    return lon, lat, t0[seg] + dt * f0, t0[seg] + dt * f1, seg


def _stays_of(track: Track, index: CellIndex, std: PatrolStandard, out: _Stays) -> None:
    if len(track.ts) < 2:
        return
    t0, t1 = track.ts[:-1], track.ts[1:]
    lon0, lat0, lon1, lat1 = track.lon[:-1], track.lat[:-1], track.lon[1:], track.lat[1:]
    known = (t1 - t0) <= std.max_gap_s
    if known.any():
        k = np.nonzero(known)[0]
        lon, lat, s, e, _ = _steps(lon0[k], lat0[k], lon1[k], lat1[k], t0[k], t1[k], std.step_m, 10_000)
        cell = index.lookup_indices(lon, lat)
        # consecutive steps in the same cell with no break in time are one stay
        brk = np.ones(len(cell), dtype=bool)
        brk[1:] = (cell[1:] != cell[:-1]) | (s[1:] != e[:-1])
        first = np.nonzero(brk)[0]
        last = np.append(first[1:] - 1, len(cell) - 1)
        c, st, en = cell[first], s[first], e[last]
        ok = (c >= 0) & (en - st >= std.min_dwell_s.get(track.kind, 0.0))
        out.cell.append(c[ok])
        out.start.append(st[ok])
        out.end.append(en[ok])
    if not known.all():
        u = np.nonzero(~known)[0]
        lon, lat, _, _, seg = _steps(lon0[u], lat0[u], lon1[u], lat1[u], t0[u], t1[u], std.step_m, 400)
        cell = index.lookup_indices(lon, lat)
        ok = cell >= 0  # every cell along the stretch is unknown for the whole stretch
        out.unknown_cell.append(cell[ok])
        out.unknown_start.append(t0[u][seg][ok])
        out.unknown_end.append(t1[u][seg][ok])


class ActiveClock:
    """Active seconds between two instants: only time inside the daily active hours counts."""

    def __init__(self, start: float, end: float, std: PatrolStandard):
        tz = ZoneInfo(std.timezone)
        self.start, self.end = start, end
        if std.active_from == std.active_to:
            self._bounds = np.array([start, end])
        else:
            day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
            last = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
            edges = []
            while day <= last:
                a = datetime.combine(day, std.active_from, tz).timestamp()
                b_day = day if std.active_to > std.active_from else day + timedelta(days=1)
                b = datetime.combine(b_day, std.active_to, tz).timestamp()
                a, b = max(a, start), min(b, end)
                if b > a:
                    edges.extend([a, b])
                day += timedelta(days=1)
            self._bounds = np.array(edges) if edges else np.array([start, start])
        lengths = self._bounds[1::2] - self._bounds[0::2]
        self._cum = np.concatenate([[0.0], np.cumsum(lengths)])

    @property
    def total(self) -> float:
        return float(self._cum[-1])

    def at(self, t: np.ndarray) -> np.ndarray:
        """Active seconds from the period start to each t."""
        t = np.clip(np.asarray(t, dtype=float), self.start, self.end)
        starts, ends = self._bounds[0::2], self._bounds[1::2]
        i = np.searchsorted(starts, t, side="right") - 1
        i = np.clip(i, 0, len(starts) - 1)
        inside = np.clip(t - starts[i], 0, ends[i] - starts[i])
        return np.where(t < starts[0], 0.0, self._cum[i] + inside)


def patrol_coverage(grid: Grid, index: CellIndex, tracks: Iterable[Track], start: float, end: float,
                    std: PatrolStandard = PatrolStandard()) -> dict[str, CellCoverage]:
    """Coverage of every leaf cell over [start, end); see the module docstring for the rules."""
    leaves = grid.leaves  # id order = the index's order
    stays = _Stays()
    for track in tracks:
        _stays_of(track, index, std, stays)
    clock = ActiveClock(start, end, std)
    cell = np.concatenate(stays.cell) if stays.cell else np.zeros(0, np.int64)
    s = np.concatenate(stays.start) if stays.start else np.zeros(0)
    e = np.concatenate(stays.end) if stays.end else np.zeros(0)
    inside = (e > start) & (s < end)
    cell, s, e = cell[inside], np.maximum(s[inside], start), np.minimum(e[inside], end)
    order = np.lexsort((s, cell))
    cell, s, e = cell[order], s[order], e[order]
    a_s, a_e = clock.at(s), clock.at(e)
    ucell = np.concatenate(stays.unknown_cell) if stays.unknown_cell else np.zeros(0, np.int64)
    u_s = clock.at(np.concatenate(stays.unknown_start)) if stays.unknown_start else np.zeros(0)
    u_e = clock.at(np.concatenate(stays.unknown_end)) if stays.unknown_end else np.zeros(0)
    bounds = np.searchsorted(cell, np.arange(len(leaves) + 1))
    ubounds_order = np.argsort(ucell, kind="stable")
    ucell, u_s, u_e = ucell[ubounds_order], u_s[ubounds_order], u_e[ubounds_order]
    ubounds = np.searchsorted(ucell, np.arange(len(leaves) + 1))
    result: dict[str, CellCoverage] = {}
    for i, leaf in enumerate(leaves):
        vs, ve = a_s[bounds[i]:bounds[i + 1]], a_e[bounds[i]:bounds[i + 1]]
        gaps_from = np.concatenate([[0.0], np.maximum.accumulate(ve)]) if len(ve) else np.array([0.0])
        gaps_to = np.concatenate([vs, [clock.total]])
        gaps = np.maximum(gaps_to - gaps_from, 0.0)
        longest = float(gaps.max())
        revisit = 60.0 * (leaf.revisit_minutes or std.revisit_minutes[leaf.priority])
        if len(vs) and longest <= revisit:
            status = CellStatus.COVERED
        else:
            too_long = (gaps > revisit) | (len(vs) == 0)
            long_from, long_to = gaps_from[too_long], gaps_to[too_long]
            us, ue = u_s[ubounds[i]:ubounds[i + 1]], u_e[ubounds[i]:ubounds[i + 1]]
            overlaps = (us[None, :] < long_to[:, None]) & (ue[None, :] > long_from[:, None])
            status = CellStatus.UNKNOWN if overlaps.any() else CellStatus.NOT_COVERED
        result[leaf.id] = CellCoverage(leaf.id, int(len(vs)), longest, revisit, status)
    return result


def roll_up(grid: Grid, status: Mapping[str, CellStatus], level: Level,
            weights: Mapping[str, float] | None = None) -> list[LevelCoverage]:
    """Covered / unknown / not covered shares of the leaf cells under each area of `level`.
    status: per leaf cell; weights: per leaf cell (for example its area in m²), else by count."""
    under: dict[str, list[str]] = {}
    for leaf in grid.leaves:
        for area_id in (leaf.id, *grid.ancestors[leaf.id]):
            under.setdefault(area_id, []).append(leaf.id)
    out = []
    for area in grid.at_level(level):
        leaves = under.get(area.id, [])
        w = np.array([1.0 if weights is None else weights[c] for c in leaves])
        total = float(w.sum()) or 1.0
        share = {s: float(sum(wi for wi, c in zip(w, leaves, strict=True) if status[c] is s)) / total
                 for s in CellStatus}
        out.append(LevelCoverage(area.id, level, len(leaves), share[CellStatus.COVERED],
                                 share[CellStatus.UNKNOWN], share[CellStatus.NOT_COVERED]))
    return out


def leaf_areas(grid: Grid) -> dict[str, float]:
    """Geodesic area of each leaf cell in m² (weights for an area roll-up)."""
    return {c.id: geodesic_area_m2(c.geometry) for c in grid.leaves}


@dataclass(frozen=True)
class DefenceStandard:
    """Beyond patrols: the key-location cameras and the checkpoints of a cell."""

    min_camera_uptime: float = 0.95
    min_checkpoint_compliance: float = 0.90
    key_camera_categories: frozenset[str] = frozenset(
        {"main_street", "busy_junction", "key_department", "key_site", "perimeter_junction"})


def defence_status(patrol: Mapping[str, CellCoverage], cameras: Mapping[str, Sequence[tuple[str, str, float | None]]],
                   checkpoints: Mapping[str, Sequence[tuple[str, float | None]]],
                   std: DefenceStandard = DefenceStandard()) -> dict[str, CellStatus]:
    """The cell-level "covered" rule: patrols met their standard, every key-location camera in the
    cell was up at least `min_camera_uptime` of the period, and every checkpoint in it was staffed
    at least `min_checkpoint_compliance` of its scheduled minutes. Any part failing makes the
    cell not covered; otherwise any part without data makes it unknown — never covered.

    cameras: cell → [(camera id, category, uptime share or None without data)];
    checkpoints: cell → [(checkpoint id, compliance or None without data)].
    """
    out: dict[str, CellStatus] = {}
    for cell_id, cov in patrol.items():
        parts = [cov.status]
        for _, category, uptime in cameras.get(cell_id, ()):
            if category in std.key_camera_categories:
                parts.append(CellStatus.UNKNOWN if uptime is None else
                             CellStatus.COVERED if uptime >= std.min_camera_uptime else CellStatus.NOT_COVERED)
        for _, compliance in checkpoints.get(cell_id, ()):
            parts.append(CellStatus.UNKNOWN if compliance is None else
                         CellStatus.COVERED if compliance >= std.min_checkpoint_compliance else CellStatus.NOT_COVERED)
        if CellStatus.NOT_COVERED in parts:
            out[cell_id] = CellStatus.NOT_COVERED
        elif CellStatus.UNKNOWN in parts:
            out[cell_id] = CellStatus.UNKNOWN
        else:
            out[cell_id] = CellStatus.COVERED
    return out
