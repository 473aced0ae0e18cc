"""Coverage gaps, checkpoint staffing and team strength, live and incremental, with the batch
rules' own definitions.

The batch computations (``geofence.coverage.patrol_coverage``, ``geofence.staffing``) judge a
whole period from every fix in it. Live, the same rules are carried forward instead: each
evaluation takes only what arrived since the last one, so its cost stays that of the last
``coverage_every_s`` at any hour of the day, and the day's fixes are never held.

- **Tracks** (rules 1–3 of ``geofence.coverage``, by ``segment_runs``, the batch's own code):
  each unit's fixes up to the evaluation's moment ``now`` are *settled* — walked once, from the
  unit's last settled fix, into unbroken stays; the stay a track ends in is carried open to the
  next evaluation (its start, its end so far), so a stay spanning evaluations is one stay, with
  its whole dwell. Fixes after ``now`` (``now`` trails the newest data by ``alerts.lateness_s``)
  are walked too, each time afresh and kept nowhere: a stay under way at ``now`` that they show
  lasting its dwell is a visit by ``now``, as the batch rule clips it. A fix at or before its
  unit's settled frontier comes later than the lateness allows: it counts for staffing and team
  strength, not for tracks (a repeat, the usual case, changes nothing).
- **Coverage gap** opens for a cell when its open gap (from its latest visit, or from the start
  of the period) exceeds its revisit interval inside the active hours with the unknown
  stretches taken out (``geofence.coverage.failing``: units' silences across the cell and the
  time nobody received) — the moment the batch rule would call that gap a failure — and when the
  period closes on a cell with no visit at all (the batch rule: no visit, not covered). It does
  not open while a unit that was last seen in the cell is silent (that is ``unit_silent``); it
  resolves on the cell's next visit.
- **Checkpoint understaffed** holds while the scheduled minutes up to now have run below
  ``min_staff`` officers present, from the first such minute. Each checkpoint keeps the officers
  seen per minute of the period; a minute is counted again only when something new fell in it.
- **Team strength**: the officers seen aboard each unit per quarter hour (shift boundaries lie on
  quarter hours), summed over a shift when it is judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from alerts.types import AlertType
from geofence.coverage import ActiveClock, CellStatus, PatrolStandard, failing, segment_runs
from geofence.grid import Grid
from geofence.lookup import CellIndex
from geofence.schedule import schedule_windows
from geofence.sites import Checkpoint
from geofence.staffing import CheckinEvent, checked_in, minute_mask, near, shift_known
from store.records import Checkin, PatrolFix

from . import Condition

T = AlertType
QUARTER = 900.0  # team strength is kept per quarter hour of each unit: shift boundaries lie on them


@dataclass
class UnitTrack:
    kind: str
    last: tuple[float, float, float] | None = None  # the latest settled fix (ts, lon, lat)
    run: tuple[int, float, float] | None = None  # the stay the settled track ends in (cell, start, end)
    counted: float | None = None  # the period in which that stay was counted as a visit
    tail: dict[float, tuple[float, float]] = field(default_factory=dict)  # fixes after the frontier: ts → (lon, lat)


@dataclass
class CheckpointMinutes:
    """One checkpoint over the period: the officers seen by fix per minute, and the officers
    present per minute (check-ins included), counted again from minute `dirty` on."""

    seen: dict[int, set[str]] = field(default_factory=dict)
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dirty: int = 0
    required: np.ndarray | None = None  # its scheduled minutes, worked out a day ahead at a time


@dataclass
class PatrolState:
    units: dict[str, UnitTrack] = field(default_factory=dict)
    checkins: dict[str, list[CheckinEvent]] = field(default_factory=dict)
    seen_checkins: set = field(default_factory=set)
    pending: list[tuple[float, float, float, tuple[str, ...]]] = field(default_factory=list)  # fixes for checkpoints
    crews: dict[tuple[str, float], set[str]] = field(default_factory=dict)  # (unit, quarter) → officers aboard
    touched: set[str] = field(default_factory=set)  # units with fixes since the last evaluation
    gaps: dict[str, float] = field(default_factory=dict)  # cell → when its open gap was raised
    visits: dict[str, float] = field(default_factory=dict)  # cell → end of its latest qualifying visit
    # the period being judged (reset when it changes)
    period: float | None = None
    last_end: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per leaf: its latest visit's end, -inf none
    visit_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    holes: dict[int, set[tuple[float, float]]] = field(default_factory=dict)  # leaf → unknown stretches (a unit silent)
    minutes: dict[str, CheckpointMinutes] = field(default_factory=dict)
    judged: bool = False  # every cell said once in this period


@dataclass(frozen=True)
class PatrolParams:
    grid: Grid
    index: CellIndex
    std: PatrolStandard
    checkpoints: Sequence[Checkpoint] = ()
    cell_scope: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    checkpoint_scope: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        leaves = self.grid.leaves
        revisit = [60.0 * (c.revisit_minutes or self.std.revisit_minutes[c.priority]) for c in leaves]
        object.__setattr__(self, "revisit", np.array(revisit, dtype=float))
        object.__setattr__(self, "leaf_ids", [c.id for c in leaves])
        object.__setattr__(self, "position", {c.id: i for i, c in enumerate(leaves)})


def add_fix(st: PatrolState, f: PatrolFix, kind: str) -> None:
    u = st.units.get(f.unit_id)
    if u is None:
        u = st.units[f.unit_id] = UnitTrack(kind)
    if f.officers:
        st.crews.setdefault((f.unit_id, f.ts - f.ts % QUARTER), set()).update(f.officers)
    st.pending.append((f.ts, f.lon, f.lat, tuple(f.officers)))
    if u.last is not None and f.ts <= u.last[0]:
        return  # a repeat, or later than the lateness: the track is walked past it
    had = u.tail.get(f.ts)
    if had is None or (f.lon, f.lat) < had:  # one position per instant (the batch's choice)
        u.tail[f.ts] = (f.lon, f.lat)
    st.touched.add(f.unit_id)


def add_checkin(st: PatrolState, c: Checkin) -> None:
    key = (c.checkpoint_id, c.officer, c.ts, c.action)
    if key not in st.seen_checkins:
        st.seen_checkins.add(key)
        st.checkins.setdefault(c.checkpoint_id, []).append(CheckinEvent(c.ts, c.officer, c.action))
        m = st.minutes.get(c.checkpoint_id)
        if m is not None and st.period is not None:
            m.dirty = min(m.dirty, max(0, int((c.ts - st.period) // 60)))


def prune(st: PatrolState, before: float) -> None:
    """A new period from `before`: forget what only the periods before it needed."""
    st.crews = {k: v for k, v in st.crews.items() if k[1] >= before - 86_400}
    st.pending = [p for p in st.pending if p[0] >= before]
    for cp, events in st.checkins.items():  # an officer still on at the checkpoint stays on
        on: dict[str, CheckinEvent] = {}
        for ev in sorted(events, key=lambda e: e.ts):
            if ev.ts >= before:
                break
            if ev.action == "on":
                on.setdefault(ev.officer, ev)
            else:
                on.pop(ev.officer, None)
        st.checkins[cp] = [*on.values(), *(e for e in events if e.ts >= before)]
    st.seen_checkins = {k for k in st.seen_checkins if k[2] >= before}


# -- tracks ------------------------------------------------------------------------------------
@dataclass
class _Walk:
    """Stays and unknown stretches of several units' new segments (arrays, in order per unit)."""

    unit: np.ndarray
    cell: np.ndarray
    start: np.ndarray
    end: np.ndarray
    unknown: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _walk(tracks: Sequence[UnitTrack], points: Sequence[np.ndarray], p: PatrolParams) -> _Walk:
    """Walk each unit from its last settled fix through `points` (its new fixes, rows ts, lon, lat,
    in time order); the first stay of each joins the stay its track ended in, as the batch rule
    would have it (same cell, no break in time)."""
    seg = [(j, np.hstack([np.array(u.last)[:, None], pts]) if u.last is not None else pts)
           for j, (u, pts) in enumerate(zip(tracks, points, strict=True))]
    seg = [(j, a) for j, a in seg if a.shape[1] >= 2]
    if not seg:
        z = np.zeros(0)
        return _Walk(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z, (np.zeros(0, np.int64),) * 2 + (z, z))
    group = np.concatenate([np.full(a.shape[1] - 1, j) for j, a in seg])
    t0, lon0, lat0 = (np.concatenate([a[k, :-1] for _, a in seg]) for k in range(3))
    t1, lon1, lat1 = (np.concatenate([a[k, 1:] for _, a in seg]) for k in range(3))
    (unit, cell, start, end), unknown = segment_runs(t0, t1, lon0, lat0, lon1, lat1, group, p.index, p.std)
    if len(unit):
        first = np.ones(len(unit), dtype=bool)
        first[1:] = unit[1:] != unit[:-1]
        for i in np.nonzero(first)[0]:
            run = tracks[unit[i]].run
            if run is not None and run[0] == cell[i] and run[2] == start[i]:
                start[i] = run[1]
    return _Walk(unit, cell, start, end, unknown)


def _settle(st: PatrolState, p: PatrolParams, now: float, start: float) -> None:
    """Walk the fixes up to `now` of the units that had any since the last evaluation, once."""
    ids, tracks, points = [], [], []
    for uid in st.touched:
        u = st.units[uid]
        due = sorted(t for t in u.tail if t <= now)
        if not due:
            continue
        pts = np.array([[t, *u.tail.pop(t)] for t in due]).T
        ids.append(uid)
        tracks.append(u)
        points.append(pts)
    st.touched = {uid for uid in st.touched if st.units[uid].tail}
    w = _walk(tracks, points, p)
    dwell = np.array([p.std.min_dwell_s.get(u.kind, 0.0) for u in tracks])
    last = np.ones(len(w.unit), dtype=bool)
    last[:-1] = w.unit[1:] != w.unit[:-1]
    for i in range(len(w.unit)):
        j, c, s, e = int(w.unit[i]), int(w.cell[i]), float(w.start[i]), float(w.end[i])
        u = tracks[j]
        same = u.run is not None and u.run[0] == c and u.run[1] == s  # the stay carried open
        if c >= 0 and e - s >= dwell[j]:
            fresh = not (same and u.counted == start)
            _visit(st, p, c, s, e, start, count=fresh)
            if last[i]:
                u.counted = start
        if last[i]:
            u.run = (c, s, e)
            if not same and not (c >= 0 and e - s >= dwell[j]):
                u.counted = None
    for j, pts in enumerate(points):
        tracks[j].last = (float(pts[0, -1]), float(pts[1, -1]), float(pts[2, -1]))
    _, ucell, u0, u1 = w.unknown
    for c, a, b in zip(ucell.tolist(), u0.tolist(), u1.tolist(), strict=True):
        if b > start:
            st.holes.setdefault(c, set()).add((a, b))


def _visit(st: PatrolState, p: PatrolParams, c: int, s: float, e: float, start: float, count: bool) -> None:
    if e <= start:
        return
    if count:
        st.visit_count[c] += 1
    if e > st.last_end[c]:
        st.last_end[c] = e
    cid = p.leaf_ids[c]
    if e > st.visits.get(cid, -math.inf):
        st.visits[cid] = e


def _ahead(st: PatrolState, p: PatrolParams, now: float) -> tuple[dict[int, float], dict[int, set]]:
    """What the fixes after `now` say about it, kept nowhere: stays under way at now that last
    their dwell (cell → visit end, clipped to now), and silences across now (cell → stretches)."""
    tracks = [st.units[uid] for uid in st.touched]
    points = [np.array([[t, *u.tail[t]] for t in sorted(u.tail)]).T for u in tracks]
    w = _walk(tracks, points, p)
    ends: dict[int, float] = {}
    for j, c, s, e in zip(w.unit.tolist(), w.cell.tolist(), w.start.tolist(), w.end.tolist(), strict=True):
        if c >= 0 and s < now and e - s >= p.std.min_dwell_s.get(tracks[j].kind, 0.0):
            ends[c] = max(ends.get(c, -math.inf), min(e, now))
    holes: dict[int, set] = {}
    _, ucell, u0, u1 = w.unknown
    for c, a, b in zip(ucell.tolist(), u0.tolist(), u1.tolist(), strict=True):
        if a < now:
            holes.setdefault(c, set()).add((a, b))
    return ends, holes


# -- the judgements ----------------------------------------------------------------------------
def _new_period(st: PatrolState, p: PatrolParams, start: float) -> None:
    n = len(p.leaf_ids)
    st.period, st.judged = start, False
    st.last_end = np.full(n, -math.inf)
    st.visit_count = np.zeros(n, np.int64)
    st.holes = {c: {h for h in hs if h[1] > start} for c, hs in st.holes.items()}
    st.holes = {c: hs for c, hs in st.holes.items() if hs}
    st.minutes = {}  # (a stay under way goes on: its next fixes make it a visit of the new period too)


def evaluate(st: PatrolState, p: PatrolParams, start: float, now: float, *, closed: bool = False,
             held: frozenset[str] | set[str] = frozenset(), unobserved: Sequence[tuple[float, float]] = ()
             ) -> list[Condition]:
    """Coverage gaps and understaffed checkpoints in [start, now); `closed`: the period ends at now.
    Called with `now` moving forward; a new `start` begins a new period."""
    if now <= start:
        return []
    if st.period != start:
        _new_period(st, p, start)
    _settle(st, p, now, start)
    return _coverage(st, p, start, now, closed, held, unobserved) + _staffing(st, p, start, now, unobserved)


def _coverage(st: PatrolState, p: PatrolParams, start: float, now: float, closed: bool, held,
              unobserved: Sequence[tuple[float, float]]) -> list[Condition]:
    ahead, ahead_holes = _ahead(st, p, now)
    last_end = st.last_end.copy()
    for c, e in ahead.items():
        last_end[c] = max(last_end[c], e)
        if e > st.visits.get(p.leaf_ids[c], -math.inf):
            st.visits[p.leaf_ids[c]] = e
    clock = ActiveClock(start, now, p.std)
    since = np.maximum(last_end, start)
    gap = clock.total - clock.at(since)
    g = clock.spans(unobserved)
    out: list[Condition] = []
    visited = np.isfinite(last_end)
    open_ = {p.position[cid] for cid in st.gaps if cid in p.position}  # (one visited now opens again next time)
    for cid, opened in list(st.gaps.items()):
        c = p.position.get(cid)
        if c is None:
            continue
        scope = p.cell_scope.get(cid, {})
        if visited[c] and last_end[c] > opened:
            del st.gaps[cid]  # visited again
            out.append(Condition(T.COVERAGE_GAP, cid, False, float(last_end[c]), scope))
        else:
            out.append(_gap(st, p, c, opened, last_end, scope))
    for c in np.nonzero((gap > p.revisit) | (closed & ~visited))[0].tolist():
        cid = p.leaf_ids[c]
        if c in open_ or cid in held:
            continue
        silent = [(x, y) for x, y in (*st.holes.get(c, ()), *ahead_holes.get(c, ())) if y > since[c] and x < now]
        status, _ = failing(np.array([clock.at(since[c])]), np.array([clock.total]), float(p.revisit[c]),
                            clock.spans(silent), g)
        if status is CellStatus.NOT_COVERED:
            st.gaps[cid] = now
            out.append(_gap(st, p, c, now, last_end, p.cell_scope.get(cid, {})))
    if not st.judged:  # every other cell clear, once a period (an alert from before a restart resolves)
        st.judged = True
        out += [Condition(T.COVERAGE_GAP, cid, False, now, p.cell_scope.get(cid, {}))
                for cid in p.leaf_ids if cid not in st.gaps and cid not in held]
    return out


def _gap(st: PatrolState, p: PatrolParams, c: int, since: float, last_end: np.ndarray, scope) -> Condition:
    end = float(last_end[c])
    return Condition(T.COVERAGE_GAP, p.leaf_ids[c], True, since, scope,
                     {"visits": int(st.visit_count[c]), "last_visit_end": end if math.isfinite(end) else None,
                      "revisit_s": float(p.revisit[c])})


def _staffing(st: PatrolState, p: PatrolParams, start: float, now: float,
              unobserved: Sequence[tuple[float, float]]) -> list[Condition]:
    """Each checkpoint's understaffed run reaching the last minute up to now, if any; the batch
    rule of ``geofence.staffing.checkpoint_staffing`` over [start, now), counted incrementally."""
    minutes = int(math.ceil((now - start) / 60))
    placed = [f for f in st.pending if start <= f[0] < now]
    st.pending = [f for f in st.pending if f[0] >= now]
    ts, lon, lat = (np.array([f[k] for f in placed], dtype=float) for k in range(3))
    blind = minute_mask(unobserved, start, now)
    out = []
    for cp in p.checkpoints:
        m = st.minutes.get(cp.id)
        if m is None:
            m = st.minutes[cp.id] = CheckpointMinutes()
        _place(m, cp, ts, lon, lat, [f[3] for f in placed], start)
        _count(m, st.checkins.get(cp.id, ()), start, now, minutes)
        required = _required(m, cp, start, minutes, p.std.timezone) & ~blind
        short = required & (m.count[:minutes] < cp.min_staff)
        scope = p.checkpoint_scope.get(cp.id, {})
        if minutes and short[-1]:
            fine = np.flatnonzero(~short)
            k = int(fine[-1]) + 1 if len(fine) else 0
            out.append(Condition(T.CHECKPOINT_UNDERSTAFFED, cp.id, True, start + 60 * k, scope,
                                 {"present": int(m.count[k:minutes].min()), "min_staff": cp.min_staff}))
        else:
            out.append(Condition(T.CHECKPOINT_UNDERSTAFFED, cp.id, False, now, scope))
    return out


def _place(m: CheckpointMinutes, cp: Checkpoint, ts: np.ndarray, lon: np.ndarray, lat: np.ndarray,
           officers: Sequence[tuple[str, ...]], start: float) -> None:
    """The officers aboard the new fixes within the checkpoint's radius, into their minutes."""
    for i in near(cp, lon, lat):
        k = int((ts[i] - start) // 60)
        m.seen.setdefault(k, set()).update(officers[i])
        m.dirty = min(m.dirty, k)


def _count(m: CheckpointMinutes, events: Iterable[CheckinEvent], start: float, now: float, minutes: int) -> None:
    """Officers present per minute, counted again from the first minute anything new fell in
    (and the last minute, which an officer still checked in goes on filling)."""
    first = min(m.dirty, max(0, len(m.count) - 1))
    if len(m.count) < minutes:
        m.count = np.concatenate([m.count, np.zeros(minutes - len(m.count), np.int64)])
    present: dict[int, set[str]] = {k: set(v) for k, v in m.seen.items() if first <= k < minutes}
    for officer, a, b in checked_in(events, now):
        for k in range(max(first, int((a - start) // 60)), min(minutes, int(np.ceil((b - start) / 60)))):
            present.setdefault(k, set()).add(officer)
    m.count[first:minutes] = 0
    for k, who in present.items():
        m.count[k] = len(who)
    m.dirty = minutes


def _required(m: CheckpointMinutes, cp: Checkpoint, start: float, minutes: int, tz: str) -> np.ndarray:
    """The checkpoint's scheduled minutes of the period so far."""
    req = m.required
    if req is None or len(req) < minutes:
        span = minutes + 1440  # (a day ahead at a time)
        req = m.required = minute_mask(schedule_windows(cp.schedule, start, start + 60 * span, tz), start,
                                       start + 60 * span)
    return req[:minutes].copy()


def team_shifts(st: PatrolState, teams: Mapping[str, str], shifts: Sequence[tuple[float, float]], minimum: int,
                scope: Mapping[str, Mapping[str, str]] = {},
                unobserved: Sequence[tuple[float, float]] = ()) -> list[Condition]:
    """Each township team in each shift judged (a shift is judged once it has ended, or where the
    period closes): under strength when fewer than `minimum` officers were seen aboard its units —
    the batch rule of ``geofence.staffing.team_strength``, unknown shifts included: a shift the
    ingest received less than half of says nothing (its team's alert, if any, stays as it was).
    teams: unit → team; shifts start and end on quarter hours."""
    out = []
    for a, b in shifts:
        if not shift_known(a, b, unobserved):
            continue
        quarters = np.arange(a - a % QUARTER, b, QUARTER).tolist()
        seen: dict[str, set[str]] = {t: set() for t in set(teams.values())}
        for unit, team in teams.items():
            for q in quarters:
                seen[team].update(st.crews.get((unit, q), ()))
        for team in sorted(seen):
            active = len(seen[team])
            out.append(Condition(T.TEAM_UNDER_STRENGTH, team, active < minimum, b, scope.get(team, {}),
                                 {"active": active, "minimum": minimum, "shift": [a, b]} if active < minimum else {}))
    return out
