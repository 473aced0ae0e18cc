"""Times as people write them, and how periods are cut into parts (worked out by hand)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from assessment.periods import PeriodError, city_days, named_period, parse_period, parse_time, split

TZ = "Asia/Shanghai"
Z = ZoneInfo(TZ)
NOW = datetime(2026, 11, 29, 15, 30, tzinfo=Z).timestamp()  # a Sunday afternoon in the city


def at(*args) -> float:
    return datetime(*args, tzinfo=Z).timestamp()


def test_times_people_write():
    assert parse_time("now", TZ, NOW) == NOW
    assert parse_time("today", TZ, NOW) == at(2026, 11, 29)
    assert parse_time("yesterday", TZ, NOW) == at(2026, 11, 28)
    assert parse_time("-24h", TZ, NOW) == NOW - 86_400
    assert parse_time("-30m", TZ, NOW) == NOW - 1800 and parse_time("-7d", TZ, NOW) == NOW - 7 * 86_400
    assert parse_time("2026-11-20", TZ, NOW) == at(2026, 11, 20)  # its midnight, the city's
    assert parse_time("2026-11-20T08:00", TZ, NOW) == at(2026, 11, 20, 8)
    assert parse_time("2026-11-20T00:00:00+00:00", TZ, NOW) == at(2026, 11, 20, 8)
    with pytest.raises(PeriodError, match="'next week' is not a time: use now, today, yesterday, -24h"):
        parse_time("next week", TZ, NOW)


def test_periods_are_refused_or_cut_at_now():
    with pytest.raises(PeriodError, match="starts in the future"):
        parse_period("2026-12-01", "2026-12-02", TZ, NOW)
    with pytest.raises(PeriodError, match="must be after --from"):
        parse_period("today", "yesterday", TZ, NOW)
    start, end, note = parse_period("today", "2026-11-30", TZ, NOW)
    assert (start, end) == (at(2026, 11, 29), NOW) and "assessed up to now (2026-11-29T15:30:00+08:00)" in note


def test_parts_by_day_and_by_version():
    v1 = (1, float("-inf"), at(2026, 11, 20, 14))  # version 2 takes over at 14:00 on the 20th
    v2 = (2, at(2026, 11, 20, 14), float("inf"))
    # at most 24 hours: one piece, cut only where the version changes
    parts = split(at(2026, 11, 20, 8), at(2026, 11, 21, 8), [v1, v2], TZ)
    assert [(p.start, p.end, p.version, p.day) for p in parts] == [
        (at(2026, 11, 20, 8), at(2026, 11, 20, 14), 1, None), (at(2026, 11, 20, 14), at(2026, 11, 21, 8), 2, None)]
    # longer: day by day, the whole days marked (they can be stored), the partial ones not
    parts = split(at(2026, 11, 18, 12), at(2026, 11, 21), [v1, v2], TZ)
    assert [(p.version, p.day, (p.end - p.start) / 3600) for p in parts] == [
        (1, None, 12.0), (1, date(2026, 11, 19), 24.0), (1, None, 14.0), (2, None, 10.0)]
    with pytest.raises(PeriodError, match="no grid was loaded"):
        split(at(2026, 11, 20), at(2026, 11, 21), [v2], TZ)


def test_city_days_overlapping_a_period():
    days = list(city_days(at(2026, 11, 18, 12), at(2026, 11, 20), TZ))  # the 20th's midnight is the end: not in
    assert days == [(date(2026, 11, 18), at(2026, 11, 18), at(2026, 11, 19)),
                    (date(2026, 11, 19), at(2026, 11, 19), at(2026, 11, 20))]
    # where the clocks change, a day is not 24 hours: the spring-forward Sunday in Berlin is 23
    berlin = ZoneInfo("Europe/Berlin")
    d = list(city_days(datetime(2026, 3, 29, 1, tzinfo=berlin).timestamp(),
                       datetime(2026, 3, 29, 2, tzinfo=berlin).timestamp(), "Europe/Berlin"))
    assert [(day, (d1 - d0) / 3600) for day, d0, d1 in d] == [(date(2026, 3, 29), 23.0)]


def test_periods_assessors_name():
    tz = TZ
    cases = {  # as written → (label, first midnight, the midnight after), in the city's time (UTC+8)
        "2026-Q3": ("2026-Q3", "2026-07-01T00:00:00+08:00", "2026-10-01T00:00:00+08:00"),
        "2026-q4": ("2026-Q4", "2026-10-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
        "2026": ("2026", "2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
        "2026-11": ("2026-11", "2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00"),
        "2026-12": ("2026-12", "2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
        # ISO week 47 of 2026: Monday 16 November to Sunday 22 November
        "2026-W47": ("2026-W47", "2026-11-16T00:00:00+08:00", "2026-11-23T00:00:00+08:00"),
        # week 1 of 2027 starts on Monday 4 January 2027 (its Thursday, the 7th, is in 2027)
        "2027-W01": ("2027-W01", "2027-01-04T00:00:00+08:00", "2027-01-11T00:00:00+08:00"),
        "2026-11-20": ("2026-11-20", "2026-11-20T00:00:00+08:00", "2026-11-21T00:00:00+08:00"),
    }
    for text, (label, first, after) in cases.items():
        p = named_period(text)
        a, b = p.bounds(tz)
        assert (p.label, datetime.fromtimestamp(a, Z).isoformat(), datetime.fromtimestamp(b, Z).isoformat()) == (
            label, first, after), text
    assert [q.label for q in named_period("2026").quarters()] == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    for bad, why in (("2026-Q5", "use 2026-Q3"), ("2026-W54", "is not a period"), ("2026-13", "is not a period"),
                     ("last quarter", "use 2026-Q3, 2026, 2026-11, 2026-W47 or 2026-11-20")):
        with pytest.raises(PeriodError, match=why):
            named_period(bad)


def test_times_outside_the_calendar_are_refused_with_the_reason():
    # (a year past 9998 has no day after its last; a relative time can run off the calendar)
    for bad in ("9999-Q4", "9999-W52", "0001"):
        with pytest.raises(PeriodError, match="out of range: years from 1970 to 9998"):
            named_period(bad)
    for bad in ("-99999999999d", "0001-01-01", "+9999999w"):
        with pytest.raises(PeriodError, match="out of range: times from 1970 to 9998"):
            parse_time(bad, TZ, NOW)
