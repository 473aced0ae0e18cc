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
    # Period 0–2000 s: A, B, C had no visit, but one could have happened in 0–1000 s, and the
    # rest (1000 s) is within the 1800 s revisit: unknown.
    cov = patrol_coverage(G, INDEX, [track("u1", [(0, 50), (1000, 250)])], T0, T0 + 2000, STD)
    for c in "ABC":
        assert cov[c].visits == 0 and cov[c].status is CellStatus.UNKNOWN, c
    assert cov["D"].status is CellStatus.NOT_COVERED  # not on the way: nothing unknown about it
    # over 0–3600 s the 2600 known seconds without a visit are too long whatever happened before
    cov = patrol_coverage(G, INDEX, [track("u1", [(0, 50), (1000, 250)])], T0, T0 + 3600, STD)
    assert all(cov[c].status is CellStatus.NOT_COVERED for c in "ABCD")


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
    from geofence.coverage import CellCoverage, defence_status, verdict

    def patrol(status):
        return CellCoverage("x", 1, 0.0, 1800.0, status)

    C, N, U = CellStatus.COVERED, CellStatus.NOT_COVERED, CellStatus.UNKNOWN
    # an hour of a camera: 3420 s up (95%) is enough; 3400 s is not, unless 20 unknown seconds
    # could have been up; nothing known at all is unknown
    assert verdict(3420, 0, 3600, 0.95) is C and verdict(3400, 0, 3600, 0.95) is N
    assert verdict(3400, 20, 3600, 0.95) is U and verdict(3400, 19, 3600, 0.95) is N
    assert verdict(0, 3600, 3600, 0.95) is U and verdict(0, 0, 0, 0.95) is C  # nothing required
    cells = {c: patrol(C) for c in "ABCDEF"}
    cells["F"] = patrol(U)
    cameras = {"A": [("cam1", "busy_junction", C)],
               "B": [("cam2", "key_site", N)],             # a key camera down too often
               "C": [("cam3", "other", N)],                # not a key location: does not count
               "D": [("cam4", "main_street", U)]}          # no data
    checkpoints = {"E": [("cp1", N)], "F": [("cp2", N)]}
    assert defence_status(cells, cameras, checkpoints) == {
        "A": C, "B": N, "C": C, "D": U, "E": N,
        "F": N}  # a failing part outweighs an unknown one


def test_a_data_gap_wholly_outside_the_active_hours_changes_nothing():
    # active 08:00–20:00; period 08:00 → 12:00 next day; a 30-minute revisit everywhere.
    # u1 crosses A → C at 19:00 (B at 19:00:05–15), u3 at 09:00 next morning (B at 09:00:05–15);
    # neither sends anything else (before a unit's first fix and after its last nothing is assumed).
    # u2 sends only two fixes, in B at 21:00 and 21:10: a 600 s silence (> max_gap_s), so B is
    # "unknown" 21:00–21:10 — after the active hours, so it has no active time.
    # B's gaps: 08:00 → 19:00:05 (11 h), 19:00:15 → 09:00:05 (59:45 + 60:05 = 119:50 of active
    # time), 09:00:15 → 12:00: all too long and none touched by the silence: not covered.
    std = PatrolStandard(max_gap_s=300, step_m=25, min_dwell_s={"car": 5.0},
                         revisit_minutes={Priority.KEY: 30, Priority.NORMAL: 30},
                         active_from=time(8, 0), active_to=time(20, 0))
    day1 = datetime(2026, 11, 20, 8, 0, tzinfo=TZ).timestamp()
    end = datetime(2026, 11, 21, 12, 0, tzinfo=TZ).timestamp()
    h = 3600.0
    d = day1 - T0
    u1 = track("u1", [(d + 11 * h, 50), (d + 11 * h + 20, 250)])
    u3 = track("u3", [(d + 25 * h, 50), (d + 25 * h + 20, 250)])
    u2 = track("u2", [(d + 13 * h, 150), (d + 13 * h + 600, 150)])
    cov = patrol_coverage(G, INDEX, [u1, u2, u3], day1, end, std)
    assert cov["B"].status is CellStatus.NOT_COVERED and cov["B"].visits == 2
    assert cov["B"].longest_gap_s == pytest.approx(11 * h + 5)
    assert (cov["B"].gap_from, cov["B"].gap_to) == (day1, pytest.approx(day1 + 11 * h + 5))
    # Period 18:00 → 10:00 with a 100-minute revisit: B's gaps are 65, 119:50 and 59:45 min.
    std100 = PatrolStandard(**{**std.__dict__, "revisit_minutes": {Priority.KEY: 100, Priority.NORMAL: 100}})
    night = patrol_coverage(G, INDEX, [u1, u2, u3], day1 + 10 * h, day1 + 26 * h, std100)
    assert night["B"].status is CellStatus.NOT_COVERED  # the silence at 21:00 changes nothing
    # the same ten silent minutes inside the active hours (19:30–19:40) leave known stretches of
    # 29:45 and 80:05 min in the middle gap: both within 100 min, so a visit in the silence would
    # have met the standard: unknown
    u2_day = track("u2", [(d + 11.5 * h, 150), (d + 11.5 * h + 600, 150)])
    night = patrol_coverage(G, INDEX, [u1, u2_day, u3], day1 + 10 * h, day1 + 26 * h, std100)
    assert night["B"].status is CellStatus.UNKNOWN and night["B"].unknown_because == "unit silent"
    # … but not with a 70-minute revisit: 80:05 known minutes are too long whatever the silence held
    std70 = PatrolStandard(**{**std.__dict__, "revisit_minutes": {Priority.KEY: 70, Priority.NORMAL: 70}})
    night = patrol_coverage(G, INDEX, [u1, u2_day, u3], day1 + 10 * h, day1 + 26 * h, std70)
    assert night["B"].status is CellStatus.NOT_COVERED


def test_while_the_ingest_was_not_receiving_failing_gaps_are_unknown():
    # u1 crosses A → C at 0 s and back at 1800 s (the hand-worked first test): A not covered
    # (its gap 5 → 1815 s is 1810 s > 1800), D never visited. The ingest heard nothing 1000–2500 s:
    # A's gap has 995 and 315 known seconds, D's period 1000 and 1100: unknown, both.
    t = track("u1", [(0, 50), (20, 250), (1800, 250), (1820, 50)])
    cov = patrol_coverage(G, INDEX, [t], T0, T0 + 3600, STD, unobserved=[(T0 + 1000, T0 + 2500)])
    assert cov["A"].status is CellStatus.UNKNOWN and cov["A"].unknown_because == "ingest not receiving"
    assert cov["D"].status is CellStatus.UNKNOWN
    assert cov["B"].status is CellStatus.COVERED  # a cell that met its standard stays covered
    # an outage at 3000–3500 s touches neither A's failing gap nor enough of D's period
    # (3000 known seconds are still > 1800): both stay not covered
    cov = patrol_coverage(G, INDEX, [t], T0, T0 + 3600, STD, unobserved=[(T0 + 3000, T0 + 3500)])
    assert cov["A"].status is CellStatus.NOT_COVERED and cov["D"].status is CellStatus.NOT_COVERED

def test_a_silence_that_began_before_the_period_is_still_a_silence():
    # u1 sits in B from -600 s to 0 s, then says nothing until 2400 s (still in B), then stays.
    # Period 0 → 3600 s: B's gap 0 → 2400 s (> 1800) overlaps the silence that began before.
    t = track("u1", [(-600 + 10 * k, 150) for k in range(61)] + [(2400 + 10 * k, 150) for k in range(60)])
    cov = patrol_coverage(G, INDEX, [t], T0, T0 + 3600, STD)
    assert cov["B"].status is CellStatus.UNKNOWN and cov["B"].unknown_because == "unit silent"
    assert cov["B"].visits == 1 and cov["B"].longest_gap_s == pytest.approx(2400)
    # without the fixes before the period the same hour would look "not covered": the reader
    # must pass the last fix before the period (tests/pingan/test_coverage_cli.py checks it does)
    t_cut = track("u1", [(2400 + 10 * k, 150) for k in range(60)])
    assert patrol_coverage(G, INDEX, [t_cut], T0, T0 + 3600, STD)["B"].status is CellStatus.NOT_COVERED
