"""Checkpoint staffing, township patrol-team strength, and rapid-response reach.

Rules, for an auditor:

- **Schedules** are daily windows in the city's time zone: ``{"days": "mon-fri", "start":
  "07:00", "end": "22:00"}``; ``days`` is a range or a comma list of ``mon…sun`` (default every
  day); an ``end`` at or before ``start`` runs past midnight into the next day; ``24:00`` is
  the end of the day. No schedule means staffed around the clock.
- **Present at a checkpoint** in a minute: an officer aboard a unit with a fix within
  ``radius_m`` (geodesic) during that minute, or an officer checked in (``on``) and not yet
  checked out. Officers are counted once however they are seen.
- **Compliance** is the share of scheduled minutes with at least ``min_staff`` officers
  present; the understaffed intervals are the runs of scheduled minutes below it. A scheduled
  minute in which the ingest was not receiving is *unknown*: neither staffed nor short.
- **Team strength**: an officer is an active member of a team in a shift when seen aboard one
  of the team's units (a fix) during the shift; the standard is at least 10 (the seed's
  full-time township patrol team). A shift the ingest received less than half of is *unknown*:
  it neither meets nor fails the standard.
- **Reach**: at a moment, each on-duty unit (a fix in the last ``max_age_s``) reaches a disc of
  radius speed × minutes around its latest position (straight line; speed by unit kind); the
  share of a district's area inside the union of the discs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pyproj import Geod

from .crs import MetricFrame
from .grid import Grid, Level
from .schedule import ScheduleError, clock_delta, clock_time, schedule_windows
from .sites import Checkpoint

__all__ = ["ScheduleError", "clock_time", "schedule_windows"]  # the schedules, where staffing meets them

_GEOD = Geod(ellps="WGS84")
TEAM_MINIMUM = 10
SPEED_MPS = {"foot": 1.4, "bike": 4.0, "car": 8.0}


@dataclass(frozen=True)
class CrewFix:
    """A fix with the officers aboard (arrays of equal length; officers as a list of tuples)."""

    unit_id: str
    ts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    officers: Sequence[Sequence[str]]


@dataclass(frozen=True)
class CheckinEvent:
    ts: float
    officer: str
    action: str  # on | off


@dataclass(frozen=True)
class Staffing:
    checkpoint_id: str
    required_minutes: int
    staffed_minutes: int
    compliance: float  # staffed / required (1.0 when nothing is required)
    understaffed: list[tuple[float, float, int]]  # (start, end, fewest officers present)
    unknown_minutes: int = 0  # required minutes in which the ingest was not receiving


def checkpoint_staffing(cp: Checkpoint, crews: Iterable[CrewFix], checkins: Iterable[CheckinEvent],
                        start: float, end: float, tz: str = "Asia/Shanghai",
                        unobserved: Sequence[tuple[float, float]] = ()) -> Staffing:
    minutes = int(np.ceil((end - start) / 60))
    present: list[set[str]] = [set() for _ in range(minutes)]
    for crew in crews:
        for i in near(cp, crew.lon, crew.lat, (crew.ts >= start) & (crew.ts < end)):
            present[int((crew.ts[i] - start) // 60)].update(crew.officers[i])
    for officer, a, b in checked_in(checkins, end):
        for m in range(max(0, int((a - start) // 60)), min(minutes, int(np.ceil((b - start) / 60)))):
            present[m].add(officer)
    count = np.array([len(p) for p in present])
    required = minute_mask(schedule_windows(cp.schedule, start, end, tz), start, end)
    blind = minute_mask(unobserved, start, end)
    unknown = required & blind
    required &= ~blind
    short = required & (count < cp.min_staff)
    runs: list[tuple[float, float, int]] = []
    m = 0
    while m < minutes:
        if short[m]:
            n = m
            while n < minutes and short[n]:
                n += 1
            runs.append((start + 60 * m, start + 60 * n, int(count[m:n].min())))
            m = n
        else:
            m += 1
    req = int(required.sum()) + int(unknown.sum())
    staffed = int((required & ~short).sum())
    return Staffing(cp.id, req, staffed, staffed / req if req else 1.0, runs, int(unknown.sum()))


def near(cp: Checkpoint, lon: np.ndarray, lat: np.ndarray, among: np.ndarray | bool = True) -> list[int]:
    """The positions (of those `among`) within the checkpoint's radius, geodesic: a box a little
    larger than the circle first, distances only for what is in it."""
    dlat = cp.radius_m / 110_000 * 1.05
    dlon = dlat / max(np.cos(np.radians(cp.lat)), 1e-6)
    box = np.nonzero((np.abs(lat - cp.lat) <= dlat) & (np.abs(lon - cp.lon) <= dlon) & among)[0]
    if not len(box):
        return []
    d = _GEOD.inv(np.full(len(box), cp.lon), np.full(len(box), cp.lat), lon[box], lat[box])[2]
    return box[d <= cp.radius_m].tolist()


def minute_mask(spans: Iterable[tuple[float, float]], start: float, end: float) -> np.ndarray:
    """The minutes of [start, end) (the last one whole) that any of the spans in it touches."""
    minutes = int(np.ceil((end - start) / 60))
    mask = np.zeros(minutes, dtype=bool)
    for a, b in spans:
        if b > start and a < end:
            mask[max(0, int((a - start) // 60)): min(minutes, int(np.ceil((b - start) / 60)))] = True
    return mask


def checked_in(checkins: Iterable[CheckinEvent], end: float) -> list[tuple[str, float, float]]:
    """The stretches (officer, from, to) officers were checked in: from an ``on`` to their next
    ``off``, or to `end` when none came."""
    out = []
    on_since: dict[str, float] = {}
    for ev in sorted(checkins, key=lambda c: c.ts):
        if ev.action == "on":
            on_since.setdefault(ev.officer, ev.ts)
        elif ev.officer in on_since:
            out.append((ev.officer, on_since.pop(ev.officer), ev.ts))
    return out + [(officer, since, end) for officer, since in on_since.items()]


@dataclass(frozen=True)
class TeamStrength:
    team_id: str
    shift_start: float
    shift_end: float
    active: int
    minimum: int
    known: bool = True  # the ingest received at least half of the shift

    @property
    def meets(self) -> bool | None:
        """True or False; None where the shift is unknown."""
        return self.active >= self.minimum if self.known else None


KNOWN_SHARE = 0.5  # a shift is judged when the ingest received at least this share of it


def team_strength(teams: Mapping[str, str], crews: Iterable[CrewFix], shifts: Sequence[tuple[float, float]],
                  minimum: int = TEAM_MINIMUM, unobserved: Sequence[tuple[float, float]] = ()) -> list[TeamStrength]:
    """teams: unit id → team id. One row per team and shift; unobserved: stretches in which the
    ingest was not receiving (merged, or at least not overlapping)."""
    seen: dict[tuple[str, int], set[str]] = {}
    for crew in crews:
        team = teams.get(crew.unit_id)
        if team is None:
            continue
        for k, (a, b) in enumerate(shifts):
            idx = np.nonzero((crew.ts >= a) & (crew.ts < b))[0]
            members = seen.setdefault((team, k), set())
            for i in idx:
                members.update(crew.officers[i])
    known = [shift_known(a, b, unobserved) for a, b in shifts]
    return [TeamStrength(team, a, b, len(seen.get((team, k), ())), minimum, known[k])
            for team in sorted(set(teams.values())) for k, (a, b) in enumerate(shifts)]


def shift_known(a: float, b: float, unobserved: Sequence[tuple[float, float]]) -> bool:
    """Whether the ingest received at least KNOWN_SHARE of the shift [a, b) (unobserved: the
    stretches nobody received, merged or at least not overlapping)."""
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in unobserved) <= (1 - KNOWN_SHARE) * (b - a)


def shifts_of(day: date, starts: Sequence[str], tz: str = "Asia/Shanghai") -> list[tuple[float, float]]:
    """Consecutive shifts of a day from their start times, e.g. ["08:00", "16:00", "24:00"]."""
    zone = ZoneInfo(tz)
    midnight = datetime.combine(day, time(0), zone)
    edges = [(midnight + clock_delta(s)).timestamp() for s in starts]
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclass(frozen=True)
class UnitPosition:
    unit_id: str
    kind: str
    lon: float
    lat: float


def response_reach(grid: Grid, units: Sequence[UnitPosition], minutes: float,
                   speed_mps: Mapping[str, float] = SPEED_MPS) -> dict[str, float]:
    """Share of each district's area within `minutes` of an on-duty unit (straight line)."""
    city = grid.at_level(Level.CITY)[0]
    frame = MetricFrame.around(city.geometry)
    discs = [frame.to_metres(shapely.Point(u.lon, u.lat)).buffer(speed_mps.get(u.kind, 1.4) * minutes * 60, 64)
             for u in units]
    reach = shapely.union_all(discs) if discs else shapely.Polygon()
    out = {}
    for d in grid.at_level(Level.DISTRICT):
        area = frame.to_metres(d.geometry)
        out[d.id] = float(area.intersection(reach).area / area.area) if area.area else 0.0
    return out
