"""Stretches of time as sorted, non-overlapping (start, end) pairs of epoch seconds."""

from __future__ import annotations

from typing import Iterable, Sequence


def merge(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of `spans`, sorted; empty spans dropped, touching ones joined."""
    out: list[tuple[float, float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in spans if b > a):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def complement(spans: Sequence[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    """What of [start, end) merged, sorted `spans` leave uncovered."""
    out, at = [], start
    for a, b in spans:
        if a > at:
            out.append((at, min(a, end)))
        at = max(at, b)
        if at >= end:
            break
    if at < end:
        out.append((at, end))
    return [(a, b) for a, b in out if b > a]


def intersect(x: Sequence[tuple[float, float]], y: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where two sets of stretches both hold, merged."""
    return merge((max(a, c), min(b, d)) for a, b in x for c, d in y if min(b, d) > max(a, c))
