"""Merging and complementing stretches, checked against counting whole seconds one by one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from geofence.spans import complement, merge

span = st.tuples(st.integers(0, 60), st.integers(0, 60))


def seconds(spans) -> set[int]:
    return {t for a, b in spans for t in range(int(a), int(b))}


@given(st.lists(span, max_size=8))
def test_merge_covers_the_same_seconds_in_disjoint_sorted_stretches(spans):
    out = merge(spans)
    assert seconds(out) == seconds(spans)
    assert all(a < b for a, b in out)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(out[:-1], out[1:], strict=True))  # touching ones were joined


@given(st.lists(span, max_size=8), st.integers(0, 60), st.integers(0, 60))
def test_complement_is_what_is_left_of_the_window(spans, start, end):
    out = complement(merge(spans), start, end)
    assert seconds(out) == set(range(start, end)) - seconds(spans)
    assert all(start <= a < b <= end for a, b in out)


def test_by_hand():
    assert merge([(5, 7), (1, 3), (3, 4), (6, 9), (2, 2)]) == [(1, 4), (5, 9)]
    assert complement([(1, 4), (5, 9)], 0, 10) == [(0, 1), (4, 5), (9, 10)]
    assert complement([(1, 4), (5, 9)], 2, 6) == [(4, 5)]
    assert complement([], 3, 3) == []
