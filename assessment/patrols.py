"""What each patrol unit and team did in a period, from the fixes:

- **Visits** and **minutes per cell**: the unit's unbroken stays of at least its kind's dwell
  time (``geofence.coverage.visits``, the coverage rule's own), cut to the period.
- **Track length**: the geodesic length of its known stretches (consecutive fixes at most
  ``max_gap_s`` apart).
- **Silent stretches**: gaps between consecutive fixes longer than ``max_gap_s`` (the part of
  both fixes in the period); the time before a unit's first fix and after its last is not
  counted (off duty, not silent).
- Per **team** (the street/township the units belong to): its units' sums, the cells of its
  street its units visited and those none of them did, and the cells of its street whose
  revisit interval was exceeded at least once in the period (by anyone's visits, the standard's
  own test: ``geofence.coverage.patrol_coverage``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import psycopg

from geofence.coverage import CellStatus, Track, patrol_coverage, track_metres, visits
from geofence.spans import complement
from store.queries import read_fixes, read_observed
from store.registry import load_version

from .standards import City, Standards


@dataclass
class UnitPatrol:
    unit_id: str
    kind: str
    team: str | None
    fixes: int = 0
    metres: float = 0.0
    visits: int = 0
    seconds_by_cell: dict[str, float] = field(default_factory=dict)
    silent: int = 0
    silent_s: float = 0.0


@dataclass
class TeamPatrol:
    team_id: str
    name: str
    units: int
    metres: float
    visits: int
    cells: int
    visited: list[str]
    never_visited: list[str]
    revisit_exceeded: list[str]
    silent_s: float


def patrols(conn: psycopg.Connection, city: City, std: Standards, start: float, end: float
            ) -> tuple[list[UnitPatrol], list[TeamPatrol]]:
    doc = load_version(conn, city.version)
    teams = {u["id"]: u.get("team") for u in doc["units"]}
    fixes = read_fixes(conn, start, end)
    blind = complement(read_observed(conn, start, end), start, end)
    leaves = city.grid.leaves
    p = std.patrol
    units = {u: UnitPatrol(u, k, teams.get(u)) for u, k in city.kinds.items()}
    tracks = []
    for i, s in fixes.per_unit():
        uid = fixes.unit_ids[i]
        kind = city.kinds.get(uid, "car")
        track = Track(uid, kind, fixes.ts[s], fixes.lon[s], fixes.lat[s])
        tracks.append(track)
        u = units.setdefault(uid, UnitPatrol(uid, kind, teams.get(uid)))
        inside = (track.ts >= start) & (track.ts < end)
        u.fixes = int(inside.sum())
        k = np.nonzero(inside)[0]
        if len(k):  # the length between its first and last fix in the period
            u.metres = track_metres(Track(uid, kind, track.ts[k[0]:k[-1] + 1], track.lon[k[0]:k[-1] + 1],
                                          track.lat[k[0]:k[-1] + 1]), p.max_gap_s)
            gaps = np.diff(track.ts)
            long = (gaps > p.max_gap_s) & inside[:-1] & inside[1:]
            u.silent, u.silent_s = int(long.sum()), float(gaps[long].sum())
        cell, a, b = visits(track, city.index, p)
        a, b = np.maximum(a, start), np.minimum(b, end)
        ok = b > a
        u.visits = int(ok.sum())
        by: dict[str, float] = defaultdict(float)
        for c, x, y in zip(cell[ok], a[ok], b[ok], strict=True):
            by[leaves[c].id] += float(y - x)
        u.seconds_by_cell = dict(by)
    cov = patrol_coverage(city.grid, city.index, tracks, start, end, p, blind)
    out_teams = []
    members: dict[str, list[UnitPatrol]] = defaultdict(list)
    for u in units.values():
        if u.team:
            members[u.team].append(u)
    for team, us in sorted(members.items()):
        cells = sorted(c.id for c in leaves if team in city.grid.ancestors.get(c.id, ()))
        seen = {c for u in us for c in u.seconds_by_cell}
        exceeded = [c for c in cells if c in cov and cov[c].longest_gap_s > cov[c].revisit_s
                    and cov[c].status is not CellStatus.UNKNOWN]
        name = city.grid.cells[team].name if team in city.grid.cells else team
        out_teams.append(TeamPatrol(team, name, len(us), sum(u.metres for u in us), sum(u.visits for u in us),
                                    len(cells), [c for c in cells if c in seen], [c for c in cells if c not in seen],
                                    exceeded, sum(u.silent_s for u in us)))
    return sorted(units.values(), key=lambda u: u.unit_id), out_teams
