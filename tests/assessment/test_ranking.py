"""Verdicts against a target by the three-valued rule of the parts, worked by hand: met on what
is known met, failed only where the unknown could not make it up, else unknown — in an area's
verdict, an attainment rate and who is ranked last."""

from __future__ import annotations

from assessment.defence import meets_target
from assessment.ranking import Entry, rank, yearly
from reports.document import Headline


def test_an_area_all_unknown_is_not_failed():
    assert meets_target(0.0, 1.0) is None  # nothing received: unknown, not "not met"
    assert meets_target(0.91, 0.0) is True
    assert meets_target(0.85, 0.04) is False  # 89% even with the unknown covered
    assert meets_target(0.85, 0.05) is None  # 90% with it: could be either
    assert meets_target(0.90, 0.10) is True


def test_a_ranking_over_a_period_nobody_received_ranks_nobody_last():
    nobody = [Entry(d, d, 0.0, 1.0, meets_target(0.0, 1.0)) for d in ("D1", "D2", "D3")]
    ranked = rank(nobody)
    assert [r.rank for r in ranked] == [1, 1, 1] and not any(r.last for r in ranked)
    h = Headline.attainment("districts meeting 90%", [r.meets for r in ranked], 0.9)
    assert h.value == 0.0 and h.upper == 1.0 and h.meets is None and h.note == "0 of 3, 3 unknown"


def test_a_yellow_card_only_where_the_unknown_could_not_lift_the_area_off_last_place():
    # D3 scores 70 with 5% unknown: at best 75, below D2's 80: surely last, a yellow card
    ranked = rank([Entry("D1", "D1", 95.0, 0.0, True), Entry("D2", "D2", 80.0, 0.0, False),
                   Entry("D3", "D3", 70.0, 0.05, False)])
    assert [(r.area_id, r.rank, r.last) for r in ranked] == [("D1", 1, False), ("D2", 2, False), ("D3", 3, True)]
    # D3 scores 70 with 15% unknown: at best 85, above D2's 80 — last on what is known, but no card
    ranked = rank([Entry("D1", "D1", 95.0, 0.0, True), Entry("D2", "D2", 80.0, 0.0, False),
                   Entry("D3", "D3", 70.0, 0.15, None)])
    assert [(r.area_id, r.rank, r.last) for r in ranked] == [("D1", 1, False), ("D2", 2, False), ("D3", 3, False)]
    # two sharing the last rank, surely last both (50 + 0 < 60)
    ranked = rank([Entry("A", "A", 60.0, 0.0, False), Entry("B", "B", 50.0, 0.0, False),
                   Entry("C", "C", 50.0, 0.0, False)])
    assert [(r.area_id, r.rank, r.last) for r in ranked] == [("A", 1, False), ("B", 2, True), ("C", 2, True)]


def test_a_years_verdict_from_its_quarters_means():
    q1 = [Entry("D1", "D1", 92.0, 0.0, True), Entry("D2", "D2", 80.0, 0.1, False), Entry("D3", "D3", 92.0, 0.0, True)]
    q2 = [Entry("D1", "D1", 86.0, 0.02, None), Entry("D2", "D2", 84.0, 0.0, False), Entry("D3", "D3", 94.0, 0.0, True)]
    year = {e.area_id: e for e in yearly([q1, q2])}
    # D1: mean 89 with 1% unknown — 90 were it covered: unknown; D2: 82 with 5%: 87 at best, not met; D3: 93, met
    assert (year["D1"].score, year["D1"].meets) == (89.0, None)
    assert (year["D2"].score, year["D2"].meets) == (82.0, False)
    assert (year["D3"].score, year["D3"].meets) == (93.0, True)
