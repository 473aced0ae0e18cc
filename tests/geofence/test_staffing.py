"""Checkpoint staffing, team strength and response reach, worked out by hand."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from shapely.geometry import Point, box, mapping

from geofence.crs import MetricFrame
from geofence.grid import Grid
from geofence.sites import Checkpoint
from geofence.staffing import (
    CheckinEvent,
    CrewFix,
    ScheduleError,
    UnitPosition,
    checkpoint_staffing,
    response_reach,
    schedule_windows,
    shifts_of,
    team_strength,
)

TZ = ZoneInfo("Asia/Shanghai")
FRAME = MetricFrame(118.78, 32.05)


def local(day: int, h: int, m: int = 0) -> float:
    return datetime(2026, 11, day, h, m, tzinfo=TZ).timestamp()


def parked(unit: str, x_m: float, officers: tuple[str, ...], start: float, end: float, every: float = 30) -> CrewFix:
    ts = np.arange(start, end, every)
    p = FRAME.to_degrees(Point(x_m, 0))
    return CrewFix(unit, ts, np.full(len(ts), p.x), np.full(len(ts), p.y), [officers] * len(ts))


def test_staffing_over_midnight_from_fixes_and_checkins():
    cp = Checkpoint("cp1", "East gate", 118.78, 32.05, radius_m=50, min_staff=2,
                    schedule=({"days": "mon-sun", "start": "22:00", "end": "02:00"},))
    start, end = local(20, 21), local(21, 3)  # 6 h; 22:00–02:00 is scheduled: 240 minutes
    crews = [parked("u1", 20, ("a", "b"), local(20, 22), local(21, 0)),   # 20 m away: present
             parked("u2", 60, ("e",), start, end)]                        # 60 m away: not present
    checkins = [CheckinEvent(local(20, 23, 30), "c", "on"), CheckinEvent(local(21, 1), "c", "off"),
                CheckinEvent(local(21, 0, 30), "d", "on")]                # d never checks out
    s = checkpoint_staffing(cp, crews, checkins, start, end)
    # 22:00–23:30 {a,b}; 23:30–00:00 {a,b,c}; 00:00–00:30 {c}; 00:30–01:00 {c,d}; 01:00–02:00 {d}
    assert s.required_minutes == 240
    assert s.staffed_minutes == 90 + 30 + 30
    assert s.compliance == pytest.approx(150 / 240)
    assert s.understaffed == [(local(21, 0), local(21, 0, 30), 1), (local(21, 1), local(21, 2), 1)]


def test_schedules():
    mon, tue = local(23, 0), local(24, 0)  # 2026-11-23 is a Monday
    assert schedule_windows([], mon, tue) == [(mon, tue)]
    assert schedule_windows([{"days": "tue-sun", "start": "08:00", "end": "09:00"}], mon, tue) == []
    assert schedule_windows([{"days": "sun,mon", "start": "08:00", "end": "24:00"}], mon, tue) == [
        (local(23, 8), tue)]
    # Sunday's 22:00–02:00 runs into Monday
    assert schedule_windows([{"days": "sun", "start": "22:00", "end": "02:00"}], mon, tue) == [(mon, local(23, 2))]
    with pytest.raises(ScheduleError):
        schedule_windows([{"days": "funday"}], mon, tue)
    with pytest.raises(ScheduleError):
        schedule_windows([{"start": "25:00"}], mon, tue)


def test_team_strength_per_shift():
    shifts = shifts_of(date(2026, 11, 20), ["00:00", "12:00", "24:00"])
    assert shifts == [(local(20, 0), local(20, 12)), (local(20, 12), local(21, 0))]
    crews = [parked("u1", 0, tuple(f"p{i}" for i in range(6)), local(20, 8), local(20, 10)),
             parked("u2", 0, tuple(f"q{i}" for i in range(5)), local(20, 9), local(20, 11)),
             parked("u1", 0, ("p0", "p1", "p2"), local(20, 13), local(20, 14))]
    rows = team_strength({"u1": "T1", "u2": "T1", "u3": "T2"}, crews, shifts)
    got = {(r.team_id, r.shift_start): (r.active, r.meets) for r in rows}
    assert got == {("T1", local(20, 0)): (11, True), ("T1", local(20, 12)): (3, False),
                   ("T2", local(20, 0)): (0, False), ("T2", local(20, 12)): (0, False)}


def test_response_reach_per_district():
    def f(cid, level, parent, g):
        return {"type": "Feature", "properties": {"id": cid, "level": level, "parent": parent},
                "geometry": mapping(FRAME.to_degrees(g))}

    feats = [f("C", "city", None, box(0, 0, 2000, 1000)),
             f("D1", "district", "C", box(0, 0, 1000, 1000)), f("D2", "district", "C", box(1000, 0, 2000, 1000))]
    grid = Grid.from_geojson({"type": "FeatureCollection", "features": feats})
    car, foot = FRAME.to_degrees(Point(500, 500)), FRAME.to_degrees(Point(1500, 500))
    # a car (8 m/s) reaches 480 m in 1 minute: a disc of π·480² m² inside D1's 1 km²
    one = response_reach(grid, [UnitPosition("u1", "car", car.x, car.y)], 1)
    assert one["D1"] == pytest.approx(math.pi * 480**2 / 1e6, rel=2e-3) and one["D2"] == 0
    # on foot (1.4 m/s) for 5 minutes: 420 m around D2's centre
    walk = response_reach(grid, [UnitPosition("u2", "foot", foot.x, foot.y)], 5)
    assert walk["D2"] == pytest.approx(math.pi * 420**2 / 1e6, rel=2e-3) and walk["D1"] == 0
    # the car in 5 minutes reaches 2.4 km: every corner of both districts (at most 1.58 km away)
    both = response_reach(grid, [UnitPosition("u1", "car", car.x, car.y), UnitPosition("u2", "foot", foot.x, foot.y)], 5)
    assert both["D1"] == pytest.approx(1.0) and both["D2"] == pytest.approx(1.0)
