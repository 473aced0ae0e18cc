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
   straight line between the two fixes are marked unknown for that time. A silence that began
   before the period or ends after it is the same silence: the caller passes each unit's last
   fix before the period and first fix after it. Before a unit's first fix and after its last
   nothing is assumed (it was not in service). Where the ingest itself was not receiving
   (``unobserved``), every cell is unknown for that time.
3. **Visits.** A visit is an unbroken stay of one unit in one cell of at least the unit kind's
   minimum dwell (``min_dwell_s``).
4. **Gaps.** Time counts only inside the daily active hours, in the city's time zone
   (Asia/Shanghai by default; a window such as 20:00–06:00 runs over midnight). A gap is the
   active time from the start of the period, or the end of a visit, to the start of the next
   visit, or the end of the period.
5. **Status.** A cell is *covered* when it had at least one visit and its longest gap is at
   most its revisit interval (its own ``revisit_minutes``, else the default for its priority).
   Otherwise — no visit, or a longer gap — it is *not covered* when some too-long gap (or,
   without visits, the period) still exceeds the revisit interval once every stretch in which
   the cell was marked unknown is taken out of it (a visit could have happened only there); if
   every too-long gap falls to within the interval that way, the cell is *unknown*: data gaps
   never count as covered, nor as failures. A stretch wholly outside the active hours has no
   active time, so it changes nothing.
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
    gap_from: float | None = None  # where the longest gap lies (epoch seconds)
    gap_to: float | None = None
    unknown_because: str | None = None  # "unit silent" | "ingest not receiving", when unknown
    last_visit_end: float | None = None  # when the latest visit in the period ended (epoch seconds)
    trailing: CellStatus = CellStatus.COVERED  # the open gap from the latest visit (or the start) to the end,
    # judged alone: not covered once it exceeds the revisit interval with unknown stretches taken out


@dataclass(frozen=True)
class LevelCoverage:
    area_id: str
    level: Level
    cells: int
    covered: float  # share, by count or area
    unknown: float
    not_covered: float
    weight: float = 1.0  # what the shares are shares of (cells or m², times seconds for shares over time)


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


def segment_runs(t0: np.ndarray, t1: np.ndarray, lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray,
                 lat1: np.ndarray, group: np.ndarray, index: CellIndex, std: PatrolStandard):
    """Rules 1 and 2 on track segments (consecutive fixes, each segment's track in `group`, in
    time order within a group): the unbroken stays (group, cell index or -1 outside the grid,
    start, end) of any length, in order, and the unknown stretches (group, cell index, start, end)
    of segments longer than ``max_gap_s``."""
    none = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    runs = unknown = none
    known = (t1 - t0) <= std.max_gap_s
    if known.any():
        k = np.nonzero(known)[0]
        lon, lat, s, e, seg = _steps(lon0[k], lat0[k], lon1[k], lat1[k], t0[k], t1[k], std.step_m, 10_000)
        cell, grp = index.lookup_indices(lon, lat), group[k][seg]
        # consecutive steps of one track in the same cell with no break in time are one stay
        brk = np.ones(len(cell), dtype=bool)
        brk[1:] = (cell[1:] != cell[:-1]) | (s[1:] != e[:-1]) | (grp[1:] != grp[:-1])
        first = np.nonzero(brk)[0]
        last = np.append(first[1:] - 1, len(cell) - 1)
        runs = grp[first], cell[first], s[first], e[last]
    if not known.all():
        u = np.nonzero(~known)[0]
        lon, lat, _, _, seg = _steps(lon0[u], lat0[u], lon1[u], lat1[u], t0[u], t1[u], std.step_m, 400)
        cell = index.lookup_indices(lon, lat)
        ok = cell >= 0  # every cell along the stretch is unknown for the whole stretch
        unknown = group[u][seg][ok], cell[ok], t0[u][seg][ok], t1[u][seg][ok]
    return runs, unknown


def _stays_of(track: Track, index: CellIndex, std: PatrolStandard, out: _Stays) -> None:
    if len(track.ts) < 2:
        return
    (_, c, st, en), (_, uc, us, ue) = segment_runs(
        track.ts[:-1], track.ts[1:], track.lon[:-1], track.lat[:-1], track.lon[1:], track.lat[1:],
        np.zeros(len(track.ts) - 1, np.int64), index, std)
    ok = (c >= 0) & (en - st >= std.min_dwell_s.get(track.kind, 0.0))
    out.cell.append(c[ok])
    out.start.append(st[ok])
    out.end.append(en[ok])
    out.unknown_cell.append(uc)
    out.unknown_start.append(us)
    out.unknown_end.append(ue)


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

    def spans(self, spans: Iterable[tuple[float, float]]) -> np.ndarray:
        """Stretches of time as (n, 2) active seconds from the period start; those with no active
        time in the period left out."""
        a = np.array([(self.at(x), self.at(y)) for x, y in spans], dtype=float).reshape(-1, 2)
        return a[a[:, 1] > a[:, 0]]

    def at(self, t: np.ndarray) -> np.ndarray:
        """Active seconds from the period start to each t."""
        t = np.clip(np.asarray(t, dtype=float), self.start, self.end)
        starts, ends = self._bounds[0::2], self._bounds[1::2]
        i = np.searchsorted(starts, t, side="right") - 1
        i = np.clip(i, 0, len(starts) - 1)
        inside = np.clip(t - starts[i], 0, ends[i] - starts[i])
        return np.where(t < starts[0], 0.0, self._cum[i] + inside)


def visits(track: Track, index: CellIndex, std: PatrolStandard = PatrolStandard()
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One unit's visits as the coverage rule counts them: (cell index into the grid's leaves,
    start, end) of each unbroken stay of at least its kind's dwell time."""
    out = _Stays()
    _stays_of(track, index, std, out)
    if not out.cell:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return np.concatenate(out.cell), np.concatenate(out.start), np.concatenate(out.end)


def track_metres(track: Track, max_gap_s: float) -> float:
    """The length of a track over its known stretches (consecutive fixes at most max_gap_s apart)."""
    if len(track.ts) < 2:
        return 0.0
    known = np.diff(track.ts) <= max_gap_s
    d = _GEOD.inv(track.lon[:-1][known], track.lat[:-1][known], track.lon[1:][known], track.lat[1:][known])[2]
    return float(np.sum(d))


def patrol_coverage(grid: Grid, index: CellIndex, tracks: Iterable[Track], start: float, end: float,
                    std: PatrolStandard = PatrolStandard(),
                    unobserved: Sequence[tuple[float, float]] = ()) -> dict[str, CellCoverage]:
    """Coverage of every leaf cell over [start, end); see the module docstring for the rules.
    unobserved: stretches in which the ingest was not receiving (unknown for every cell)."""
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
    # unknown stretches, in active time; one wholly outside the active hours has no length
    ucell = np.concatenate(stays.unknown_cell) if stays.unknown_cell else np.zeros(0, np.int64)
    u_s = clock.at(np.concatenate(stays.unknown_start)) if stays.unknown_start else np.zeros(0)
    u_e = clock.at(np.concatenate(stays.unknown_end)) if stays.unknown_end else np.zeros(0)
    real = u_e > u_s
    ucell, u_s, u_e = ucell[real], u_s[real], u_e[real]
    order = np.argsort(ucell, kind="stable")
    ucell, u_s, u_e = ucell[order], u_s[order], u_e[order]
    g = clock.spans(unobserved)
    bounds = np.searchsorted(cell, np.arange(len(leaves) + 1))
    ubounds = np.searchsorted(ucell, np.arange(len(leaves) + 1))
    result: dict[str, CellCoverage] = {}
    for i, leaf in enumerate(leaves):
        lo, hi = bounds[i], bounds[i + 1]
        vs, ve = a_s[lo:hi], a_e[lo:hi]
        gaps_from = np.concatenate([[0.0], np.maximum.accumulate(ve)]) if len(ve) else np.array([0.0])
        gaps_to = np.concatenate([vs, [clock.total]])
        wall_from = np.concatenate([[start], np.maximum.accumulate(e[lo:hi])]) if len(ve) else np.array([start])
        wall_to = np.concatenate([s[lo:hi], [end]])
        gaps = np.maximum(gaps_to - gaps_from, 0.0)
        k = int(gaps.argmax())
        longest = float(gaps[k])
        revisit = 60.0 * (leaf.revisit_minutes or std.revisit_minutes[leaf.priority])
        why = None
        silent = np.column_stack([u_s[ubounds[i]:ubounds[i + 1]], u_e[ubounds[i]:ubounds[i + 1]]])
        if len(vs) and longest <= revisit:
            status, why = CellStatus.COVERED, None
        else:
            too_long = (gaps > revisit) | (len(vs) == 0)
            status, why = failing(gaps_from[too_long], gaps_to[too_long], revisit, silent, g)
        trailing = CellStatus.COVERED
        if gaps[-1] > revisit:
            trailing = failing(gaps_from[-1:], gaps_to[-1:], revisit, silent, g)[0]
        result[leaf.id] = CellCoverage(leaf.id, int(len(vs)), longest, revisit, status,
                                       float(wall_from[k]), float(wall_to[k]), why,
                                       float(e[lo:hi].max()) if len(ve) else None, trailing)
    return result


def failing(gap_from: np.ndarray, gap_to: np.ndarray, revisit: float, silent: np.ndarray,
             unobserved: np.ndarray) -> tuple[CellStatus, str | None]:
    """Not covered when a too-long gap still exceeds the revisit interval with the unknown
    stretches taken out of it; otherwise unknown, saying which kind of stretch made it so."""
    why = None
    for a, b in zip(gap_from, gap_to, strict=True):
        holes = [(max(x, a), min(y, b), "unit silent") for x, y in silent if x < b and y > a]
        holes += [(max(x, a), min(y, b), "ingest not receiving") for x, y in unobserved if x < b and y > a]
        if not holes:
            return CellStatus.NOT_COVERED, None  # nothing unknown in it: a certain failure
        holes.sort()
        known, at = 0.0, a
        for x, y, kind in holes:
            known = max(known, x - at)
            at = max(at, y)
            why = why or kind
        known = max(known, b - at)
        if known > revisit:
            return CellStatus.NOT_COVERED, None
    return CellStatus.UNKNOWN, why


def roll_up(grid: Grid, status: Mapping[str, CellStatus | Mapping[CellStatus, float]], level: Level,
            weights: Mapping[str, float] | None = None) -> list[LevelCoverage]:
    """Covered / unknown / not covered shares of the leaf cells under each area of `level`.
    status: per leaf cell, its status, or how much of it (for example seconds of a long
    period) was in each status; weights: per leaf cell (for example its area in m²), else by count."""
    under: dict[str, list[str]] = {}
    for leaf in grid.leaves:
        for area_id in (leaf.id, *grid.ancestors[leaf.id]):
            under.setdefault(area_id, []).append(leaf.id)
    amounts: dict[str, tuple[float, float, float]] = {}
    for leaf in grid.leaves:
        st = status.get(leaf.id)
        w = 1.0 if weights is None else weights[leaf.id]
        if st is None:
            amounts[leaf.id] = (0.0, 0.0, 0.0)
        elif isinstance(st, CellStatus):
            amounts[leaf.id] = tuple(w * (st is k) for k in CellStatus)  # type: ignore[assignment]
        else:
            amounts[leaf.id] = tuple(w * float(st.get(k, 0.0)) for k in CellStatus)  # type: ignore[assignment]
    out = []
    for area in grid.at_level(level):
        leaves = under.get(area.id, [])
        tot = np.array([amounts[c] for c in leaves]).reshape(-1, 3).sum(axis=0)
        weight = float(tot.sum())
        share = tot / weight if weight else np.zeros(3)
        out.append(LevelCoverage(area.id, level, len(leaves), float(share[0]), float(share[2]), float(share[1]),
                                 weight))
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


def verdict(good: float, unknown: float, total: float, minimum: float) -> CellStatus:
    """A part of the standard measured as a share: met when even counting every unknown moment
    as failed it reaches `minimum`; failed when even counting them as good it does not; unknown
    in between, and when nothing at all is known."""
    if total <= 0:
        return CellStatus.COVERED  # nothing was required
    if unknown >= total:
        return CellStatus.UNKNOWN
    if good / total >= minimum:
        return CellStatus.COVERED
    if (good + unknown) / total < minimum:
        return CellStatus.NOT_COVERED
    return CellStatus.UNKNOWN


def combine(parts: Iterable[CellStatus]) -> CellStatus:
    """Any part failing fails the cell; otherwise any part unknown makes it unknown."""
    parts = list(parts)
    if CellStatus.NOT_COVERED in parts:
        return CellStatus.NOT_COVERED
    if CellStatus.UNKNOWN in parts:
        return CellStatus.UNKNOWN
    return CellStatus.COVERED


def defence_status(patrol: Mapping[str, CellCoverage], cameras: Mapping[str, Sequence[tuple[str, str, CellStatus]]],
                   checkpoints: Mapping[str, Sequence[tuple[str, CellStatus]]],
                   std: DefenceStandard = DefenceStandard()) -> dict[str, CellStatus]:
    """The cell-level "covered" rule: patrols met their standard, every key-location camera in the
    cell was up at least `min_camera_uptime` of the period, and every checkpoint in it was staffed
    at least `min_checkpoint_compliance` of its scheduled minutes (each part judged by
    `verdict`). Any part failing makes the cell not covered; otherwise any part without data
    makes it unknown — never covered.

    cameras: cell → [(camera id, category, its verdict)]; checkpoints: cell → [(checkpoint id, its verdict)].
    """
    out: dict[str, CellStatus] = {}
    for cell_id, cov in patrol.items():
        parts = [cov.status]
        parts += [status for _, category, status in cameras.get(cell_id, ()) if category in std.key_camera_categories]
        parts += [status for _, status in checkpoints.get(cell_id, ())]
        out[cell_id] = combine(parts)
    return out
