"""The ground truth's own arithmetic, on a row of four 100 m cells, worked out by hand: the
checker is checked before it judges the product."""

from __future__ import annotations

import numpy as np

from simulators.fleet import Path
from simulators.truth import CameraPlan, CheckpointPlan, GroundTruth, TruthStandard, UnitPlan, compare

from ..geofence.test_coverage import T0, G, at

STD = TruthStandard(min_dwell_s={"car": 5.0}, revisit_key_minutes=30, revisit_normal_minutes=30, margin_m=2.0,
                    margin_s=1.0)


def path(*points: tuple[float, float]) -> Path:
    """(seconds after T0, x in metres) breakpoints along the row, at y = 50 m."""
    xy = [at(x) for _, x in points]
    return Path(np.array([T0 + t for t, _ in points]), np.array([p[0] for p in xy]), np.array([p[1] for p in xy]))


# u1: in A (x = 50) until 100 s, then to C (x = 250) at 10 m/s (B from 105 to 115 s), then stays.
U1 = UnitPlan("u1", "car", ("a", "b"), path((0, 50), (100, 50), (120, 250), (7200, 250)),
              T0 + np.arange(0, 3601, 10.0))
# u2: two fixes in D, 600 s apart: silent in between; nothing before or after
U2 = UnitPlan("u2", "car", ("c",), path((0, 350), (7200, 350)), np.array([T0, T0 + 600]))


def test_patrol_by_hand():
    # over the hour (1800 s revisit): A visited 0–105 s, then a 3495 s gap; B crossed 105–115 s,
    # then 3485 s; C from 115 s on; D never visited — and its 600 silent seconds leave 3000
    # known seconds without a visit: not covered either
    hour = GroundTruth(G, T0, T0 + 3600, STD).patrol([U1, U2])
    assert hour == {"A": ["not_covered"], "B": ["not_covered"], "C": ["covered"], "D": ["not_covered"]}
    # over 20 minutes every gap after a visit is within 1800 s; D's known 600 s could have been
    # met by a visit in its silent 600: unknown
    short = GroundTruth(G, T0, T0 + 1200, STD).patrol([U1, U2])
    assert short == {"A": ["covered"], "B": ["covered"], "C": ["covered"], "D": ["unknown"]}


def test_a_doubtful_dwell_is_either():
    # B is crossed in exactly 10 s; with a 10 s minimum dwell the noise of a real GPS could make it
    # a visit or not: the truth says either
    std = TruthStandard(min_dwell_s={"car": 10.0}, revisit_normal_minutes=30, margin_m=2.0, margin_s=1.0)
    assert GroundTruth(G, T0, T0 + 1200, std).patrol([U1])["B"] == ["covered", "not_covered"]


def test_cameras_checkpoints_composite_and_roll_ups():
    # a key camera in A down 600 s of the hour (5/6 up) and one in C up; a checkpoint in B (one
    # officer needed, 60 m) staffed by a check-in for the first 30 minutes only
    cams = [CameraPlan("k1", "key_site", *at(50, 20), [(T0 + 600, T0 + 1200)]),
            CameraPlan("k2", "main_street", *at(250, 20), [])]
    cps = [CheckpointPlan("cp", *at(150, 95), 1.0, 1, (), [("p1", T0, T0 + 1800)])]
    truth = GroundTruth(G, T0, T0 + 3600, STD).compute([U1, U2], cams, cps)
    assert truth["cameras"]["k1"]["uptime"] == 5 / 6 and truth["cameras"]["k1"]["status"] == ["not_covered"]
    assert truth["checkpoints"]["cp"]["compliance"] == [0.5, 0.5]
    cells = truth["cells"]
    assert (cells["A"]["cameras"], cells["C"]["cameras"], cells["B"]["checkpoints"]) == (
        ["not_covered"], ["covered"], ["not_covered"])
    assert {c: v["status"] for c, v in cells.items()} == {
        "A": ["not_covered"], "B": ["not_covered"], "C": ["covered"], "D": ["not_covered"]}
    assert truth["areas"]["street"]["S0"] == [0.25, 0.25]
    # the comparison: an answer that matches agrees; one cell wrong is a disagreement, named
    product = {"cells": {c: {"status": v["status"][0], "patrol": v["patrol"][0], "cameras": (v["cameras"] or [None])[0],
                             "checkpoints": (v["checkpoints"] or [None])[0]} for c, v in cells.items()},
               "cameras": {"k1": 5 / 6, "k2": 1.0}, "checkpoints": {"cp": 0.5},
               "areas": {"street": {"S0": 0.25}, "district": {"D0": 0.25}, "city": {"C0": 0.25}}}
    verdict = compare(truth, product)
    assert all(v["agree"] == v["total"] for v in verdict.values()), verdict
    product["cells"]["C"]["status"] = "unknown"
    product["cameras"]["k1"] = 1.0
    verdict = compare(truth, product)
    assert verdict["cells"]["disagreements"] == [{"id": "C", "truth": ["covered"], "product": "unknown"}]
    assert verdict["camera_uptime"]["disagreements"] == [{"id": "k1", "truth": 0.833333, "product": 1.0}]


def test_an_outage_is_unknown_in_the_truth_by_hand():
    # nobody receiving from 1200 s to 2400 s of the hour. A left at 105 s: 1095 known seconds, the
    # outage, 1200 known: no stretch past 1800 s, unknown (it was not covered without the outage); so
    # B; D: silent to 600, 600 known, the outage, 1200 known: unknown; C visited throughout: covered
    cams = [CameraPlan("k1", "key_site", *at(50, 20), [(T0 + 600, T0 + 1200)]),
            CameraPlan("k2", "main_street", *at(250, 20), [])]
    cps = [CheckpointPlan("cp", *at(150, 95), 1.0, 1, (), [("p1", T0, T0 + 1800)])]
    truth = GroundTruth(G, T0, T0 + 3600, STD, unobserved=[(T0 + 1200, T0 + 2400)]).compute([U1, U2], cams, cps)
    assert {c: v["patrol"] for c, v in truth["cells"].items()} == {
        "A": ["unknown"], "B": ["unknown"], "C": ["covered"], "D": ["unknown"]}
    # k2 up all the known time: 2400 of 3600 s — 95% only with the unknown third: unknown, its uptime
    # of the known time 1.0; k1 down 600 of the 2400 known: 1800 + 1200 unknown < 95% even so: not covered
    assert (truth["cameras"]["k2"]["uptime"], truth["cameras"]["k2"]["status"]) == (1.0, ["unknown"])
    assert (truth["cameras"]["k1"]["uptime"], truth["cameras"]["k1"]["status"]) == (0.75, ["not_covered"])
    # the checkpoint: staffed minutes 0–20 (the outage takes 20–30 of its 30), 20 of 60 minutes, 20 unknown
    assert truth["checkpoints"]["cp"]["compliance"] == [20 / 60, 20 / 60]
    assert truth["checkpoints"]["cp"]["status"] == ["not_covered"]  # 40 of 60 at best: under 90%
    assert all(r == [] for r in truth["gap_openings"]["A"])  # no gap failed: no alert due


def test_when_each_gap_failed_by_hand():
    # over the hour, 1800 s revisit (± the 1 s margin): A left at 105 s: failed at 1905 s; B crossed
    # until 115 s: 1915 s; D silent until 600 s, then known: 2400 s; C never left
    truth = GroundTruth(G, T0, T0 + 3600, STD)
    truth.patrol([U1, U2])
    failed = {cell: sorted({round(t - T0) for r in readings for t in r}) for cell, readings in
              truth.gap_openings.items()}
    assert failed["C"] == []
    for cell, moment in (("A", 1905), ("B", 1915), ("D", 2400)):
        assert failed[cell] and all(abs(t - moment) <= 12 for t in failed[cell]), (cell, failed[cell])
    assert all(len(r) == 1 for r in truth.gap_openings["A"])  # one failing gap in every reading


def test_alerts_are_scored_one_to_one_and_on_time():
    from simulators.truth import score_alerts

    expected = [{"type": "coverage_gap", "subject": "A", "from": T0 + 1905, "to": T0 + 2155}]

    def alert(at):
        return {"type": "coverage_gap", "subject": "A", "opened_at": T0 + at}

    assert (score_alerts(expected, [alert(2000)])["precision"], score_alerts(expected, [alert(2000)])["recall"]) == (
        1.0, 1.0)
    # raised twice for one gap (or closed and opened again): the second is a false positive
    twice = score_alerts(expected, [alert(2000), alert(2100)])
    assert (twice["precision"], twice["recall"]) == (0.5, 1.0) and twice["unexpected"][0]["opened_at"] == T0 + 2100
    # a rule that raises it "some time in the period" (at the start, before anything failed): wrong and missed
    early = score_alerts(expected, [alert(10)])
    assert (early["precision"], early["recall"]) == (0.0, 0.0)
    # an optional expectation may be met or not; a must is matched before it
    both = expected + [{"type": "coverage_gap", "subject": "A", "from": T0, "to": T0 + 3600, "optional": True}]
    s = score_alerts(both, [alert(2000), alert(3000)])
    assert (s["precision"], s["recall"], s["optional"]) == (1.0, 1.0, 1)


def test_a_blind_spot_is_expected_only_while_the_gap_and_every_key_camera_s_blinding_may_hold_at_once():
    """Worked by hand (acceleration 120: the gap's judging lags 490 s, a camera's 120 s, a blind
    spot is looked for every 250 s; an offline camera's alert holds 120 s after 3 heartbeats):
    key cell K fails from 1,300 s until a visit at 5,000 s; c1 is offline 1,000–3,000 s; c2 shows
    an occlusion on the snapshots 900–1,800 s (five minutes apart) and is healthy from 2,100 s."""
    from simulators.scenario import FaultSpec, Scenario, expected_alerts

    from datetime import datetime, timezone

    sc = Scenario.load("small").model_copy(update={"acceleration": 120, "heartbeat_s": 60, "snapshot_every_s": 300,
                                                   "start": datetime.fromtimestamp(0, timezone.utc), "duration_s": 7200})
    std = TruthStandard()
    cov = {"cameras": {c: {"cells": ["K"], "category": "busy_junction"} for c in ("c1", "c2")},
           "gap_windows": {"K": [[(1300.0, 5000.0)]] * 4}, "gap_openings": {}, "cells": {"K": {"patrol": ["not_covered"]}},
           "not_short": {"street": {}, "district": {}}}
    offline = (FaultSpec(kind="camera_offline"), "c1", 1000.0, 3000.0)

    def blind(last_occluded: float) -> list[dict]:
        shots = [(t, "occluded" if t <= last_occluded else None) for t in range(900, 4000, 300)]
        every = expected_alerts([offline], {"c2": shots}, cov, {}, {}, sc, std, {"K"})
        return [{k: a[k] for k in ("from", "to", "optional") if k in a} for a in every if a["type"] == "blind_spot"]

    # both surely open only 1,790–1,800 s (the gap's alert from 1,790; c2's until its last showing, 1,800):
    # shorter than a judging step — it may be raised (from 1,300 s until c2's alert may have cleared, 2,220 s)
    assert blind(1800) == [{"from": 1300.0, "to": 2220.0, "optional": True}]
    # c2 occluded until 2,400 s: all three surely open 1,790–2,400 s — it must be raised, by 1,790 + 250 s
    assert blind(2400) == [{"from": 1300.0, "to": 2040.0}]
    # c2 healthy throughout: no blind spot may be raised (one would be a false alarm)
    assert blind(0) == []
