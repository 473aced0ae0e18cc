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
from datetime import date, datetime, time, timedelta, timezone
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
        return _in_range(now + sign * float(m[2]) * _UNIT_S[m[3]], text)
    try:
        d = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{text!r} is not a time: use {FORMS}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=ZoneInfo(tz))
    try:
        return _in_range(d.timestamp(), text)
    except (OverflowError, ValueError):  # (the first or last day of the calendar, shifted out of it by its offset)
        raise PeriodError(f"{text!r} is out of range: times from {FIRST_YEAR} to {LAST_YEAR}") from None


FIRST_YEAR, LAST_YEAR = 1970, 9998  # the times the store and its calendar arithmetic can hold
_FIRST, _LAST = datetime(FIRST_YEAR, 1, 1, tzinfo=timezone.utc).timestamp(), \
    datetime(LAST_YEAR + 1, 1, 1, tzinfo=timezone.utc).timestamp()


def _in_range(ts: float, text: str) -> float:
    if not _FIRST <= ts < _LAST:
        raise PeriodError(f"{text!r} is out of range: times from {FIRST_YEAR} to {LAST_YEAR}")
    return ts


def parse_period(start_text: str, end_text: str, tz: str, now: float) -> tuple[float, float, str | None]:
    """(start, end, note): refused when empty or wholly in the future; a period reaching past
    now ends now, and the note says so."""
    start, end = parse_time(start_text, tz, now), parse_time(end_text, tz, now)
    if end <= start:
        raise PeriodError(f"--to ({rfc3339(end, tz)}) must be after --from ({rfc3339(start, tz)})")
    return up_to_now(start, end, tz, now)


def up_to_now(start: float, end: float, tz: str, now: float, what: str = "the period") -> tuple[float, float, str | None]:
    """Refused when it has not begun; one reaching past now ends now, and the note says so."""
    if start >= now:
        raise PeriodError(f"{what} starts in the future ({rfc3339(start, tz)}); nothing has happened in it yet")
    note = None
    if end > now:
        note = f"{what} reaches into the future: assessed up to now ({rfc3339(now, tz)})"
        end = now
    return start, end, note


_NAMED = (
    (re.compile(r"^(\d{4})-Q([1-4])$", re.I), "quarter"),
    (re.compile(r"^(\d{4})-W(\d{2})$", re.I), "week"),
    (re.compile(r"^(\d{4})-(\d{2})$"), "month"),
    (re.compile(r"^(\d{4})$"), "year"),
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"), "day"),
)
NAMED_FORMS = "2026-Q3, 2026, 2026-11, 2026-W47 or 2026-11-20"


@dataclass(frozen=True)
class NamedPeriod:
    kind: str  # quarter, year, month, week, day
    label: str  # as written, normalised: 2026-Q3, 2026-W47 …
    first: date  # its first day
    after: date  # the day after its last

    def bounds(self, tz: str) -> tuple[float, float]:
        """[its first midnight, the midnight after it) in the city's time."""
        return midnight(self.first, tz), midnight(self.after, tz)

    def quarters(self) -> list["NamedPeriod"]:
        """The quarters it is made of (a year: four; a quarter: itself)."""
        if self.kind == "quarter":
            return [self]
        if self.kind == "year":
            return [named_period(f"{self.first.year}-Q{q}") for q in range(1, 5)]
        raise PeriodError(f"{self.label} is not made of quarters")


def named_period(text: str) -> NamedPeriod:
    """A calendar period as assessors name it: a quarter, an ISO week, a month, a year or a day."""
    t = text.strip()
    for pattern, kind in _NAMED:
        m = pattern.match(t)
        if not m:
            continue
        y = int(m[1])
        if not FIRST_YEAR <= y <= LAST_YEAR:
            raise PeriodError(f"{text!r} is out of range: years from {FIRST_YEAR} to {LAST_YEAR}")
        try:
            if kind == "quarter":
                q = int(m[2])
                first, after = date(y, 3 * q - 2, 1), (date(y, 3 * q + 1, 1) if q < 4 else date(y + 1, 1, 1))
                return NamedPeriod(kind, f"{y}-Q{q}", first, after)
            if kind == "week":
                first = date.fromisocalendar(y, int(m[2]), 1)
                return NamedPeriod(kind, f"{y}-W{int(m[2]):02d}", first, first + timedelta(days=7))
            if kind == "month":
                mo = int(m[2])
                first = date(y, mo, 1)
                return NamedPeriod(kind, f"{y}-{mo:02d}", first, date(y + mo // 12, mo % 12 + 1, 1))
            if kind == "year":
                return NamedPeriod(kind, f"{y}", date(y, 1, 1), date(y + 1, 1, 1))
            first = date(y, int(m[2]), int(m[3]))
            return NamedPeriod(kind, first.isoformat(), first, first + timedelta(days=1))
        except ValueError as e:
            raise PeriodError(f"{text!r} is not a period: {e}") from None
    raise PeriodError(f"{text!r} is not a period: use {NAMED_FORMS}")


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
