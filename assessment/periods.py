"""Periods as people write them, in the city's time zone, and how a period is cut into parts.

Times: ``now``, ``today`` and ``yesterday`` (the city's midnight), relative times such as
``-24h``, ``-30m``, ``-7d``, ``-2w``, dates (``2026-11-20``: its midnight) and date-times with or
without an offset (without one: the city's time).

Parts: a period of at most 24 hours is assessed as one piece; a longer one day by day (the
city's days; partial days at its ends). Either is cut where the registry version changes, so
every part is assessed on the grid in force during it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterator, Sequence
from zoneinfo import ZoneInfo

DAY_S = 86_400.0
_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
FORMS = "now, today, yesterday, -24h, -7d, 2026-11-20 or 2026-11-20T08:00"


class PeriodError(ValueError):
    pass


def midnight(day: date, tz: str) -> float:
    return datetime.combine(day, time(0), ZoneInfo(tz)).timestamp()


def local_date(ts: float, tz: str) -> date:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).date()


def city_days(start: float, end: float, tz: str) -> Iterator[tuple[date, float, float]]:
    """(day, its midnight, the next midnight) for each of the city's days overlapping [start, end)."""
    day = local_date(start, tz)
    d0 = midnight(day, tz)
    while d0 < end:
        d1 = midnight(day + timedelta(days=1), tz)
        yield day, d0, d1
        day, d0 = day + timedelta(days=1), d1


def parse_time(text: str, tz: str, now: float) -> float:
    """One of the forms above as epoch seconds."""
    t = text.strip().lower()
    if t == "now":
        return now
    if t in ("today", "yesterday"):
        day = local_date(now, tz) - timedelta(days=1 if t == "yesterday" else 0)
        return midnight(day, tz)
    m = _RELATIVE.match(t)
    if m:
        sign = -1 if m[1] == "-" else 1
        return now + sign * float(m[2]) * _UNIT_S[m[3]]
    try:
        d = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{text!r} is not a time: use {FORMS}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=ZoneInfo(tz))
    return d.timestamp()


def parse_period(start_text: str, end_text: str, tz: str, now: float) -> tuple[float, float, str | None]:
    """(start, end, note): refused when empty or wholly in the future; a period reaching past
    now ends now, and the note says so."""
    start, end = parse_time(start_text, tz, now), parse_time(end_text, tz, now)
    if end <= start:
        raise PeriodError(f"--to ({rfc3339(end, tz)}) must be after --from ({rfc3339(start, tz)})")
    if start >= now:
        raise PeriodError(f"the period starts in the future ({rfc3339(start, tz)}); nothing has happened in it yet")
    note = None
    if end > now:
        note = f"the period reaches into the future: assessed up to now ({rfc3339(now, tz)})"
        end = now
    return start, end, note


def rfc3339(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Part:
    start: float
    end: float
    version: int
    day: date | None  # the city's day this part is all of (a stored day can stand for it)

    @property
    def seconds(self) -> float:
        return self.end - self.start


def split(start: float, end: float, versions: Sequence[tuple[int, float, float]], tz: str) -> list[Part]:
    """Cut [start, end) into parts; versions: (version, effective from, until) covering it."""
    cuts = {start, end}
    for _, a, b in versions:
        cuts.update(x for x in (a, b) if start < x < end)
    if end - start > DAY_S:
        cuts.update(m for _, m, _ in city_days(start, end, tz) if m > start)
    edges = sorted(cuts)
    parts = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        version = next((v for v, f, u in versions if f <= a < u), None)
        if version is None:
            raise PeriodError(f"no grid was loaded for {rfc3339(a, tz)}: run `pingan migrate` with grid.path set")
        day = local_date(a, tz)
        whole = a == midnight(day, tz) and b == midnight(day + timedelta(days=1), tz)
        parts.append(Part(a, b, version, day if whole else None))
    return parts
