"""Rankings of districts and streets/townships: each quarter's, and the year's from its quarters.

**Score** (0–100): the area's defence-system coverage — the covered share of its cells' time,
unknown counted as not covered — times 100. A year's score is the mean of its quarters' scores
(the quarters assessed so far).

**Ties**: scores are compared to 0.01 point; equal scores are ordered by the smaller unknown
share (what is known of the area is more complete); still equal, the areas share a rank (1, 2,
2, 4). **Last**: every area with the last rank, when some area ranks above it and the unknown
share could not lift it off last place (its score with its unknown share counted covered is
still below every other area's score) — each gets a yellow card (黄牌); a ranking over a period
nobody received ranks nobody last. **Years last
running**: this year last, and each year before it whose stored ranking (``pingan.ranking``) has
the area last, back to the first that does not; three running is the one-vote veto (一票否决).
**Attainment**: the share of the areas whose coverage meets 90%, against 90% (an area meets, fails,
or is unknown: ``assessment.defence.meets_target``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import psycopg

from .defence import meets_target

VETO_YEARS = 3


@dataclass(frozen=True)
class Entry:
    area_id: str
    name: str
    score: float  # 0–100
    unknown: float  # share
    meets: bool | None  # None: unknown


@dataclass(frozen=True)
class Ranked:
    area_id: str
    name: str
    score: float
    unknown: float
    meets: bool | None
    rank: int
    last: bool
    years_last: int = 0  # running, this year included (yearly rankings only)

    @property
    def veto(self) -> bool:
        return self.years_last >= VETO_YEARS


def rank(entries: Iterable[Entry]) -> list[Ranked]:
    """Best first, by the rule above."""
    def key(e: Entry) -> tuple[float, float]:
        return (-round(e.score, 2), round(e.unknown, 6))

    ordered = sorted(entries, key=lambda e: (*key(e), e.area_id))
    out: list[Ranked] = []
    for k, e in enumerate(ordered):
        same = out and key(ordered[k - 1]) == key(e)
        out.append(Ranked(e.area_id, e.name, e.score, e.unknown, e.meets, out[-1].rank if same else k + 1, False))
    worst = out[-1].rank if out else None
    above = [r.score for r in out if r.rank != worst]
    if not above:  # all share one rank: nobody is below anybody
        return out
    return [replace(r, last=r.rank == worst and round(r.score + 100 * r.unknown, 2) < round(min(above), 2))
            for r in out]


def yearly(quarters: Sequence[Sequence[Entry]]) -> list[Entry]:
    """The year's entries from its quarters': mean score and unknown share over the quarters
    each area was assessed in; meets when the mean coverage does."""
    sums: dict[str, list] = {}
    for q in quarters:
        for e in q:
            s = sums.setdefault(e.area_id, [e.name, 0.0, 0.0, 0])
            s[1] += e.score
            s[2] += e.unknown
            s[3] += 1
    return [Entry(a, name, score / n, unknown / n, meets_target(score / n / 100, unknown / n))
            for a, (name, score, unknown, n) in sums.items()]


def years_last(conn: psycopg.Connection, level: str, year: int, ranked: Sequence[Ranked]) -> list[Ranked]:
    """The year's ranking with each area's years last running counted back through the stored years."""
    rows = conn.execute("SELECT period::int, area_id FROM pingan.ranking WHERE level = %s AND last "
                        "AND period ~ '^[0-9]{4}$' AND period::int < %s", (level, year)).fetchall()
    conn.commit()
    lasts = {(y, a) for y, a in rows}
    out = []
    for r in ranked:
        n = 0
        if r.last:
            n = 1
            while (year - n, r.area_id) in lasts:
                n += 1
        out.append(replace(r, years_last=n))
    return out


def store(conn: psycopg.Connection, period: str, level: str, ranked: Sequence[Ranked], standard: str) -> None:
    """Keep a closed period's ranking (replacing one kept before)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM pingan.ranking WHERE period = %s AND level = %s", (period, level))
        cur.executemany("INSERT INTO pingan.ranking (period, level, area_id, score, rank, last, standard) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        [(period, level, r.area_id, r.score, r.rank, r.last, standard) for r in ranked])
    conn.commit()
