"""Checkpoint schedules and times of day: daily windows in the city's time zone.

``{"days": "mon-fri", "start": "07:00", "end": "22:00"}``; ``days`` is a range or a comma list
of ``mon…sun`` (default every day); an ``end`` at or before ``start`` runs past midnight into
the next day; ``24:00`` is the end of the day. No schedule means around the clock.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo

from .spans import merge

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScheduleError(ValueError):
    pass


def _days(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        if "-" in part:
            a, b = part.split("-")
            if a not in _DAYS or b not in _DAYS:
                raise ScheduleError(f"unknown day in {spec!r}")
            i, j = _DAYS.index(a), _DAYS.index(b)
            out.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in _DAYS:
            out.add(_DAYS.index(part))
        else:
            raise ScheduleError(f"unknown day {part!r} in {spec!r}")
    return out


SCHEDULE_KEYS = ("days", "start", "end")


def schedule_problems(schedule: Sequence[Mapping[str, str]]) -> list[str]:
    """What is wrong with a checkpoint schedule: entries of {"days": "mon-fri" or "mon,wed",
    "start": "HH:MM", "end": "HH:MM" (24:00 the end of the day)}, every key optional."""
    out = []
    for i, entry in enumerate(schedule):
        where = f"schedule[{i}]"
        unknown = sorted(set(entry) - set(SCHEDULE_KEYS))
        if unknown:
            out.append(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (keys: {', '.join(SCHEDULE_KEYS)})")
        for key, check in (("days", _days), ("start", clock_delta), ("end", clock_delta)):
            if key in entry:
                try:
                    if not isinstance(entry[key], str):
                        raise ScheduleError(f"{key} must be text, not {entry[key]!r}")
                    check(entry[key])
                except ScheduleError as e:
                    out.append(f"{where}: {e}")
    return out


def clock_time(text: str) -> time:
    """"HH:MM" as a time of day; "24:00" is midnight (the end of a day)."""
    return (datetime.min + clock_delta(text)).time()


def clock_delta(text: str) -> timedelta:
    """"HH:MM" as the time since midnight ("24:00": a whole day)."""
    try:
        h, m = text.split(":")
        h, m = int(h), int(m)
    except ValueError:
        raise ScheduleError(f"time {text!r} is not HH:MM") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ScheduleError(f"time {text!r} is not HH:MM")
    return timedelta(hours=h, minutes=m)


def schedule_windows(schedule: Sequence[Mapping[str, str]], start: float, end: float,
                     tz: str = "Asia/Shanghai") -> list[tuple[float, float]]:
    """The schedule's windows overlapping [start, end), as merged epoch intervals."""
    if not schedule:
        return [(start, end)]
    zone = ZoneInfo(tz)
    day = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date()
    spans: list[tuple[float, float]] = []
    while day <= last:
        for entry in schedule:
            if day.weekday() not in _days(entry.get("days", "mon-sun")):
                continue
            a, b = clock_delta(entry.get("start", "00:00")), clock_delta(entry.get("end", "24:00"))
            if b <= a:
                b += timedelta(days=1)
            midnight = datetime.combine(day, time(0), zone)
            s = (midnight + a).timestamp()
            e = (midnight + b).timestamp()
            if e > start and s < end:
                spans.append((max(s, start), min(e, end)))
        day += timedelta(days=1)
    return merge(spans)


