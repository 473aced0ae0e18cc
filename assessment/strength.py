"""Team strength per shift and response reach per district, over a period, day by day: the two
figures the assessment reports beside coverage (the rules are ``geofence.staffing``'s).

- **Team strength**: per township team and shift (``alerts.team_shifts``), the distinct officers
  seen aboard its units' fixes; the shift meets the standard with at least ``team_minimum``. A
  shift the ingest received less than half of is unknown, never met nor failed.
- **Response reach**: every hour on the hour, the share of each district's area within the reach
  minutes of an on-duty unit (one with a fix in the last ``max_gap_s``, where it last was), at
  its kind's speed in a straight line; a district's reach is the mean over the known samples (the
  ingest receiving at that moment); the others are its unknown share.

A closed whole day is computed once and stored (``pingan.team_shift``, ``pingan.reach_daily``);
the rest of a period (its partial days, days not yet closed) is computed each time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import psycopg

from geofence.grid import Level
from geofence.spans import complement
from geofence.staffing import CrewFix, UnitPosition, response_reach, shifts_of, team_strength
from store.queries import read_fixes, read_observed
from store.registry import load_version, versions_between

from .periods import city_days
from .standards import City, Standards
from .uptime import SETTLE_S

SAMPLE_S = 3600.0


@dataclass(frozen=True)
class Rules:
    shifts: tuple[str, ...] = ("00:00", "08:00", "16:00", "24:00")
    minimum: int = 10
    minutes: float = 5.0

    def digest(self, std: Standards) -> str:
        doc = {"shifts": list(self.shifts), "minimum": int(self.minimum), "minutes": float(self.minutes),
               "max_gap_s": float(std.patrol.max_gap_s), "tz": std.timezone}  # (numbers as numbers: 300 = 300.0)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TeamFigures:
    team_id: str
    name: str
    shifts: int = 0
    met: int = 0
    unknown: int = 0
    fewest: int | None = None  # the fewest active members in a known shift

    @property
    def share_met(self) -> float | None:
        known = self.shifts - self.unknown
        return self.met / known if known else None


@dataclass
class ReachFigures:
    district_id: str
    name: str
    reach_sum: float = 0.0
    samples: int = 0
    unknown: int = 0

    @property
    def reach(self) -> float | None:
        return self.reach_sum / self.samples if self.samples else None

    @property
    def unknown_share(self) -> float:
        total = self.samples + self.unknown
        return self.unknown / total if total else 1.0


def _inside(t: float, spans: Sequence[tuple[float, float]]) -> bool:
    return any(a <= t < b for a, b in spans)


def compute(conn: psycopg.Connection, city: City, teams: dict[str, str], std: Standards, rules: Rules,
            day, start: float, end: float) -> tuple[list[tuple], list[tuple]]:
    """One day (or the part [start, end) of it): team rows (team, shift from, to, active, known)
    and reach rows (district, reach sum, known samples, unknown samples). The officers are
    gathered per unit and shift by the database; the positions read as arrays (a city-day is
    millions of fixes: none of them becomes a Python object)."""
    seen = read_observed(conn, start, end)
    shifts = [(max(a, start), min(b, end)) for a, b in shifts_of(day, rules.shifts, std.timezone) if b > start and a < end]
    team_rows = []
    for a, b in shifts:  # the rule's own count, each unit standing once for the shift with everyone seen aboard
        crews = [CrewFix(u, np.array([a]), np.zeros(1), np.zeros(1), [tuple(officers)]) for u, officers in conn.execute(
            "SELECT unit_id, array_agg(DISTINCT o) FROM pingan.patrol_ping, unnest(officers) AS o "
            "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) GROUP BY unit_id", (a, b))]
        team_rows += [(r.team_id, r.shift_start, r.shift_end, r.active, r.known)
                      for r in team_strength(teams, crews, [(a, b)], rules.minimum, complement(seen, a, b))]
    conn.commit()
    fixes = read_fixes(conn, start, end)  # (with each unit's last fix before the day: on duty at its start)
    units = [(fixes.unit_ids[i], s) for i, s in fixes.per_unit()]
    districts = [d.id for d in city.grid.at_level(Level.DISTRICT)]
    sums = dict.fromkeys(districts, 0.0)
    known_n = unknown_n = 0
    first = start + (-start % SAMPLE_S)
    for t in np.arange(first, end, SAMPLE_S):
        if not _inside(float(t), seen):
            unknown_n += 1
            continue
        known_n += 1
        on_duty = []
        for u, s in units:
            k = int(np.searchsorted(fixes.ts[s], t, side="right")) - 1  # its last fix at or before t
            if k >= 0 and t - fixes.ts[s][k] <= std.patrol.max_gap_s:
                on_duty.append(UnitPosition(u, city.kinds.get(u, "car"), float(fixes.lon[s][k]), float(fixes.lat[s][k])))
        if on_duty:  # (none on duty: nothing reached)
            for d, share in response_reach(city.grid, on_duty, rules.minutes).items():
                sums[d] += share
    return team_rows, [(d, sums[d], known_n, unknown_n) for d in districts]


def period(conn: psycopg.Connection, std: Standards, rules: Rules, start: float, end: float, now: float,
           city_of: Callable[[int], City] | None = None) -> tuple[list[TeamFigures], list[ReachFigures]]:
    """Every team's and district's figures over [start, end), from the stored days where it can."""
    city_of = city_of or (lambda v: City.of(v, load_version(conn, v)))
    standard = rules.digest(std)
    teams: dict[str, TeamFigures] = {}
    reach: dict[str, ReachFigures] = {}
    for day, d0, d1 in city_days(start, end, std.timezone):
        a, b = max(d0, start), min(d1, end)
        found = versions_between(conn, a, b)
        if not found:
            continue
        version = found[-1][0]
        city = city_of(version)
        team_rows, reach_rows = _stored(conn, day, d0, d1, standard) if (a, b) == (d0, d1) else (None, None)
        if team_rows is None:
            doc = load_version(conn, version)
            members = {u["id"]: u["team"] for u in doc["units"] if u.get("team")}
            team_rows, reach_rows = compute(conn, city, members, std, rules, day, a, b)
            if (a, b) == (d0, d1) and d1 <= now - SETTLE_S:
                _store(conn, day, team_rows, reach_rows, rules.minimum, standard)
        for team, _, _, active, known in team_rows:
            f = teams.setdefault(team, TeamFigures(team, city.grid.cells[team].name if team in city.grid.cells else team))
            f.shifts += 1
            if not known:
                f.unknown += 1
                continue
            f.met += active >= rules.minimum
            f.fewest = active if f.fewest is None else min(f.fewest, active)
        for district, s, k, u in reach_rows:
            r = reach.setdefault(district, ReachFigures(district, city.grid.cells[district].name
                                                         if district in city.grid.cells else district))
            r.reach_sum += s
            r.samples += k
            r.unknown += u
    return sorted(teams.values(), key=lambda t: t.team_id), sorted(reach.values(), key=lambda r: r.district_id)


def _stored(conn: psycopg.Connection, day, d0: float, d1: float, standard: str) -> tuple[list | None, list | None]:
    """A stored day's rows, unless data for it came late after they were computed."""
    late = conn.execute("SELECT max(changed_at) FROM pingan.late_hour WHERE hour >= to_timestamp(%s) "
                        "AND hour < to_timestamp(%s)", (d0, d1)).fetchone()[0]
    teams = conn.execute("SELECT team_id, date_part('epoch', shift_from), date_part('epoch', shift_to), active, known, "
                         "computed_at FROM pingan.team_shift WHERE day = %s AND standard = %s", (day, standard)).fetchall()
    reach = conn.execute("SELECT district_id, reach_sum, samples, unknown, computed_at FROM pingan.reach_daily "
                         "WHERE day = %s AND standard = %s", (day, standard)).fetchall()
    conn.commit()
    if not reach or (late is not None and any(r[-1] < late for r in (*teams, *reach))):
        return None, None
    return [r[:5] for r in teams], [r[:4] for r in reach]


def _store(conn: psycopg.Connection, day, team_rows, reach_rows, minimum: int, standard: str) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM pingan.team_shift WHERE day = %s AND standard = %s", (day, standard))
        cur.execute("DELETE FROM pingan.reach_daily WHERE day = %s AND standard = %s", (day, standard))
        cur.executemany("INSERT INTO pingan.team_shift (day, team_id, shift_from, shift_to, active, minimum, known, "
                        "standard) VALUES (%s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s)",
                        [(day, t, a, b, n, minimum, k, standard) for t, a, b, n, k in team_rows])
        cur.executemany("INSERT INTO pingan.reach_daily (day, district_id, reach_sum, samples, unknown, standard) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", [(day, d, s, k, u, standard) for d, s, k, u in reach_rows])
    conn.commit()
