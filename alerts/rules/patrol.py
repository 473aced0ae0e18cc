"""Coverage gaps and checkpoint staffing, live, with the batch rules' own definitions.

Both are judged by calling the batch computations (``geofence.coverage.patrol_coverage``,
``geofence.staffing.checkpoint_staffing``) over the period so far, up to a moment ``now``
that trails the newest data by ``alerts.lateness_s``; so a visit, a dwell, an unknown stretch
and a staffed minute mean here exactly what they mean in the assessment.

- **Coverage gap** opens for a cell when its open gap (from its latest visit, or from the start
  of the period) exceeds its revisit interval inside the active hours with the unknown
  stretches taken out — the moment the batch rule would call that gap a failure — and when the
  period closes on a cell with no visit at all (the batch rule: no visit, not covered). It does
  not open while a unit that was last seen in the cell is silent (that is ``unit_silent``); it
  resolves on the cell's next visit.
- **Checkpoint understaffed** holds while the scheduled minutes up to now have run below
  ``min_staff`` officers present, from the first such minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from alerts.types import AlertType
from geofence.coverage import CellStatus, PatrolStandard, Track, patrol_coverage
from geofence.grid import Grid
from geofence.lookup import CellIndex
from geofence.sites import Checkpoint
from geofence.staffing import CheckinEvent, CrewFix, checkpoint_staffing, team_strength
from store.records import Checkin, PatrolFix

from . import Condition

T = AlertType


@dataclass
class UnitFixes:
    kind: str
    ts: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    officers: list[tuple[str, ...]] = field(default_factory=list)


@dataclass
class PatrolState:
    units: dict[str, UnitFixes] = field(default_factory=dict)
    checkins: dict[str, list[CheckinEvent]] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)  # cell → when its open gap was raised
    visits: dict[str, float] = field(default_factory=dict)  # cell → end of its latest qualifying visit
    seen: set = field(default_factory=set)  # (unit, ts) / (checkpoint, officer, ts, action) already added


@dataclass(frozen=True)
class PatrolParams:
    grid: Grid
    index: CellIndex
    std: PatrolStandard
    checkpoints: Sequence[Checkpoint] = ()
    cell_scope: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    checkpoint_scope: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def add_fix(st: PatrolState, f: PatrolFix, kind: str) -> None:
    if (f.unit_id, f.ts) in st.seen:
        return
    st.seen.add((f.unit_id, f.ts))
    u = st.units.setdefault(f.unit_id, UnitFixes(kind))
    u.ts.append(f.ts)
    u.lon.append(f.lon)
    u.lat.append(f.lat)
    u.officers.append(tuple(f.officers))


def add_checkin(st: PatrolState, c: Checkin) -> None:
    key = (c.checkpoint_id, c.officer, c.ts, c.action)
    if key not in st.seen:
        st.seen.add(key)
        st.checkins.setdefault(c.checkpoint_id, []).append(CheckinEvent(c.ts, c.officer, c.action))


def prune(st: PatrolState, before: float) -> None:
    """Forget fixes before `before` (a new period), keeping each unit's last one before it."""
    for u in st.units.values():
        order = np.argsort(u.ts, kind="stable")
        ts = np.asarray(u.ts)[order]
        k = max(0, int(np.searchsorted(ts, before)) - 1)
        keep = order[k:]
        for name in ("ts", "lon", "lat", "officers"):
            values = getattr(u, name)
            setattr(u, name, [values[i] for i in keep])
    st.seen = {s for s in st.seen if len(s) != 2 or s[1] >= before}


def evaluate(st: PatrolState, p: PatrolParams, start: float, now: float, *, closed: bool = False,
             held: frozenset[str] | set[str] = frozenset(), unobserved: Sequence[tuple[float, float]] = ()
             ) -> list[Condition]:
    """Coverage gaps and understaffed checkpoints in [start, now); `closed`: the period ends at now."""
    if now <= start:
        return []
    tracks = [Track.of(uid, u.kind, u.ts, u.lon, u.lat) for uid, u in st.units.items() if u.ts]
    cov = patrol_coverage(p.grid, p.index, tracks, start, now, p.std, unobserved)
    out = []
    for cell_id, c in cov.items():
        if c.last_visit_end is not None and c.last_visit_end > st.visits.get(cell_id, -math.inf):
            st.visits[cell_id] = c.last_visit_end
        scope = p.cell_scope.get(cell_id, {})
        opened = st.gaps.get(cell_id)
        if opened is not None:
            if c.last_visit_end is not None and c.last_visit_end > opened:
                del st.gaps[cell_id]  # visited again
                out.append(Condition(T.COVERAGE_GAP, cell_id, False, c.last_visit_end, scope))
            else:
                out.append(_gap(cell_id, opened, c, scope))
            continue
        if cell_id in held:
            continue
        if c.trailing is CellStatus.NOT_COVERED or (closed and c.status is CellStatus.NOT_COVERED and not c.visits):
            st.gaps[cell_id] = now
            out.append(_gap(cell_id, now, c, scope))
        else:
            out.append(Condition(T.COVERAGE_GAP, cell_id, False, now, scope))
    crews = [CrewFix(uid, np.asarray(u.ts), np.asarray(u.lon), np.asarray(u.lat), u.officers)
             for uid, u in st.units.items() if u.ts]
    last_minute = start + 60 * math.ceil((now - start) / 60)
    for cp in p.checkpoints:
        s = checkpoint_staffing(cp, crews, st.checkins.get(cp.id, ()), start, now, p.std.timezone, unobserved)
        run = s.understaffed[-1] if s.understaffed else None
        active = run is not None and run[1] >= last_minute
        out.append(Condition(T.CHECKPOINT_UNDERSTAFFED, cp.id, active, run[0] if active else now,
                             p.checkpoint_scope.get(cp.id, {}),
                             {"present": run[2], "min_staff": cp.min_staff} if active else {}))
    return out


def _gap(cell_id: str, since: float, c, scope) -> Condition:
    return Condition(T.COVERAGE_GAP, cell_id, True, since, scope,
                     {"visits": c.visits, "last_visit_end": c.last_visit_end, "revisit_s": c.revisit_s})


def team_shifts(st: PatrolState, teams: Mapping[str, str], shifts: Sequence[tuple[float, float]], minimum: int,
                scope: Mapping[str, Mapping[str, str]] = {},
                unobserved: Sequence[tuple[float, float]] = ()) -> list[Condition]:
    """Each township team in each shift judged (a shift is judged once it has ended, or where the
    period closes): under strength when fewer than `minimum` officers were seen aboard its units —
    the batch rule of ``geofence.staffing.team_strength``, unknown shifts included: a shift the
    ingest received less than half of says nothing (its team's alert, if any, stays as it was).
    teams: unit → team."""
    crews = [CrewFix(uid, np.asarray(u.ts), np.asarray(u.lon), np.asarray(u.lat), u.officers)
             for uid, u in st.units.items() if u.ts and uid in teams]
    out = []
    for row in team_strength(teams, crews, shifts, minimum, unobserved):
        if row.meets is None:
            continue
        out.append(Condition(T.TEAM_UNDER_STRENGTH, row.team_id, not row.meets, row.shift_end,
                             scope.get(row.team_id, {}),
                             {"active": row.active, "minimum": row.minimum, "shift": [row.shift_start, row.shift_end]}
                             if not row.meets else {}))
    return out
