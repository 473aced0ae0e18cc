"""Patrol coverage on a row of 100 m cells, every answer worked out by hand in the comments."""

from __future__ import annotations

import random
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import Point, box, mapping

from geofence.coverage import ActiveClock, CellStatus, PatrolStandard, Track, leaf_areas, patrol_coverage, roll_up
from geofence.crs import MetricFrame
from geofence.grid import Grid, Level, Priority
from geofence.lookup import CellIndex

FRAME = MetricFrame(118.78, 32.05)
TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=TZ).timestamp()
# a 30-minute revisit for every cell, a 5 s minimum dwell, steps of at most 25 m
STD = PatrolStandard(max_gap_s=300, step_m=25, min_dwell_s={"car": 5.0},
                     revisit_minutes={Priority.KEY: 30, Priority.NORMAL: 30})


def grid() -> Grid:
    """Cells A, B, C, D: 100 × 100 m side by side along x = 0…400 m."""
    whole = box(0, 0, 400, 100)

    def f(cid, level, parent, g):
        return {"type": "Feature", "properties": {"id": cid, "level": level, "parent": parent},
                "geometry": mapping(FRAME.to_degrees(g))}

    feats = [f("C0", "city", None, whole), f("D0", "district", "C0", whole), f("S0", "street", "D0", whole)]
    feats += [f(c, "grid", "S0", box(100 * i, 0, 100 * (i + 1), 100)) for i, c in enumerate("ABCD")]
    return Grid.from_geojson({"type": "FeatureCollection", "features": feats})


def at(x_m: float, y_m: float = 50) -> tuple[float, float]:
    p = FRAME.to_degrees(Point(x_m, y_m))
    return p.x, p.y


def track(unit: str, fixes: list[tuple[float, float]]) -> Track:
    """fixes: (seconds after T0, x in metres)."""
    pos = [at(x) for _, x in fixes]
    return Track.of(unit, "car", [T0 + t for t, _ in fixes], [p[0] for p in pos], [p[1] for p in pos])


G = grid()
INDEX = CellIndex(G.leaves)


def test_a_cell_crossed_between_two_fixes_is_visited():
    # A → C at 10 m/s with fixes only at x=50 (t=0) and x=250 (t=20): by the straight line the
    # unit is in A for 0–5 s, in B for 5–15 s, in C for 15–20 s. Thirty minutes later (t=1800)
    # it drives back C → A: C 1800–1805, B 1805–1815, A 1815–1820. Between t=20 and t=1800 it
    # sent nothing: more than max_gap_s, so that stretch is unknown, not a stay in C.
    t = track("u1", [(0, 50), (20, 250), (1800, 250), (1820, 50)])
    cov = patrol_coverage(G, INDEX, [t], T0, T0 + 3600, STD)
    assert cov["B"].visits == 2
    assert cov["B"].longest_gap_s == pytest.approx(1790)  # 15 → 1805
    assert cov["B"].status is CellStatus.COVERED  # ≤ 1800 s
    assert cov["A"].longest_gap_s == pytest.approx(1810)  # 5 → 1815
    assert cov["A"].status is CellStatus.NOT_COVERED
    assert cov["C"].visits == 2 and cov["C"].longest_gap_s == pytest.approx(1795)  # 1805 → 3600
    assert cov["C"].status is CellStatus.COVERED
    assert cov["D"].visits == 0 and cov["D"].status is CellStatus.NOT_COVERED


def test_out_of_order_fixes_give_the_same_answer():
    fixes = [(0, 50), (20, 250), (1800, 250), (1820, 50), (20, 250)]  # one repeated
    shuffled = fixes[:]
    random.Random(1).shuffle(shuffled)
    a = patrol_coverage(G, INDEX, [track("u1", fixes)], T0, T0 + 3600, STD)
    b = patrol_coverage(G, INDEX, [track("u1", shuffled)], T0, T0 + 3600, STD)
    assert a == b


def test_a_gap_longer_than_the_maximum_is_unknown_not_a_visit():
    # fixes 1000 s apart (> 300 s): from A to C the unit's whereabouts are unknown for 0–1000 s.
    cov = patrol_coverage(G, INDEX, [track("u1", [(0, 50), (1000, 250)])], T0, T0 + 3600, STD)
    for c in "ABC":
        assert cov[c].visits == 0 and cov[c].status is CellStatus.UNKNOWN, c
    assert cov["D"].status is CellStatus.NOT_COVERED  # not on the way: nothing unknown about it


def test_active_hours_over_midnight():
    # active 20:00–06:00 Shanghai time; period 12:00 → 12:00 next day: 10 active hours.
    std = PatrolStandard(max_gap_s=300, step_m=25, min_dwell_s={"car": 5.0},
                         revisit_minutes={Priority.KEY: 360, Priority.NORMAL: 360},
                         active_from=time(20, 0), active_to=time(6, 0))
    start = datetime(2026, 11, 20, 12, 0, tzinfo=TZ).timestamp()
    end = datetime(2026, 11, 21, 12, 0, tzinfo=TZ).timestamp()
    assert ActiveClock(start, end, std).total == 36_000
    pass1 = datetime(2026, 11, 20, 23, 0, tzinfo=TZ).timestamp() - T0
    pass2 = datetime(2026, 11, 21, 5, 0, tzinfo=TZ).timestamp() - T0
    t = track("u1", [(pass1, 50), (pass1 + 20, 250), (pass2, 250), (pass2 + 20, 50)])
    # B is crossed at 23:00:05–15 and at 05:00:05–15
    cov = patrol_coverage(G, INDEX, [t], start, end, std)
    # gaps in active time: 20:00 → 23:00:05 = 10,805 s; 23:00:15 → 05:00:05 = 21,590 s;
    # 05:00:15 → 06:00 = 3,585 s; after 06:00 nothing counts
    assert cov["B"].longest_gap_s == pytest.approx(21_590)
    assert cov["B"].status is CellStatus.COVERED  # ≤ 6 h
    tighter = PatrolStandard(**{**std.__dict__, "revisit_minutes": {Priority.KEY: 300, Priority.NORMAL: 300}})
    # the silent six hours were spent at C (x=250 both ends), so B is not covered, not unknown
    assert patrol_coverage(G, INDEX, [t], start, end, tighter)["B"].status is CellStatus.NOT_COVERED


def test_roll_up_by_count_and_area():
    cov = patrol_coverage(G, INDEX, [track("u1", [(0, 50), (20, 250), (1800, 250), (1820, 50)])],
                          T0, T0 + 3600, STD)
    # A not covered (1810 s gap), B and C covered, D never visited
    status = {c: v.status for c, v in cov.items()}
    (street,) = roll_up(G, status, Level.STREET)
    assert (street.area_id, street.cells, street.covered, street.not_covered, street.unknown) == ("S0", 4, 0.5, 0.5, 0)
    areas = leaf_areas(G)
    assert all(a == pytest.approx(10_000, rel=1e-3) for a in areas.values())  # 100 × 100 m
    (city,) = roll_up(G, status, Level.CITY, areas)
    assert city.covered == pytest.approx(0.5, rel=1e-3)


def test_defence_status_composes_patrol_cameras_and_checkpoints():
    from geofence.coverage import CellCoverage, defence_status

    def patrol(status):
        return CellCoverage("x", 1, 0.0, 1800.0, status)

    cells = {c: patrol(CellStatus.COVERED) for c in "ABCDEF"}
    cells["F"] = patrol(CellStatus.UNKNOWN)
    cameras = {"A": [("cam1", "busy_junction", 0.99)],
               "B": [("cam2", "key_site", 0.80)],          # a key camera down too often
               "C": [("cam3", "other", 0.10)],             # not a key location: does not count
               "D": [("cam4", "main_street", None)]}       # no data
    checkpoints = {"E": [("cp1", 0.5)], "F": [("cp2", 0.2)]}
    assert defence_status(cells, cameras, checkpoints) == {
        "A": CellStatus.COVERED, "B": CellStatus.NOT_COVERED, "C": CellStatus.COVERED,
        "D": CellStatus.UNKNOWN, "E": CellStatus.NOT_COVERED,
        "F": CellStatus.NOT_COVERED}  # a failing part outweighs an unknown one
