"""The ranking report: each quarter's ranking of districts and of streets/townships, the year's
from its quarters, the last-ranked with a yellow card, years last running (three: the veto),
and the attainment rate against 90%. A closed period's ranking is kept (``pingan.ranking``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from assessment import ranking
from assessment.defence import TARGET, Assessor, CoverageError
from assessment.periods import NamedPeriod, rfc3339
from assessment.report import assessment, completeness
from geofence.grid import Level
from store.registry import versions_between

from . import charts
from .document import Headline, Report, Table

LEVELS = (("district", Level.DISTRICT, "Districts 区"), ("street", Level.STREET, "Streets and townships 街道/乡镇"))
METHODS = [
    "Score (0–100): the area's defence-system coverage — the covered share of its cells' time, unknown counted as "
    "not covered — times 100. A year's score: the mean of its quarters' scores (the quarters assessed so far).",
    "Ties: scores are compared to 0.01 point; equal scores are ordered by the smaller unknown share; still equal, "
    "the areas share a rank (1, 2, 2, 4).",
    "Last: every area with the last rank gets a yellow card (黄牌) when some area ranks above it and its unknown "
    "share could not lift it off last place (its score with the unknown counted covered stays below every other "
    "area's score); a period nobody received ranks nobody last. Years last running: the year ranked, and each "
    "year before it whose kept ranking has the area last; three running is the one-vote veto (一票否决).",
    "Attainment rate: the share of the areas whose coverage meets 90%, against 90%. An area meets the standard on "
    "what is known covered, fails it only when it would fall short even with its unknown share covered, and is "
    "otherwise unknown; the rate counts the areas that meet, the unknown ones beside it.",
    "Coverage is summed from the stored daily results (pingan.coverage_daily); a closed quarter's and year's "
    "ranking is kept (pingan.ranking) for the years-last count of later years.",
]
COLUMNS = (("rank", "rank 名次"), ("area_id", "area 区域"), ("name", "name 名称"), ("score", "score 得分"),
           ("unknown", "unknown 未知"), ("meets", "≥ 90%"), ("yellow_card", "yellow card 黄牌"))
YEAR_COLUMNS = (*COLUMNS, ("years_last", "years last 连续末位"), ("veto", "veto 一票否决"))


@dataclass
class Quarter:
    label: str
    entries: dict[str, list[ranking.Entry]]  # level → entries
    start: float
    end: float
    closed: bool


def _entries(a: Assessor, start: float, end: float) -> dict[str, list[ranking.Entry]]:
    result = a.period(start, end)
    figures = assessment(a, result, [lv for _, lv, _ in LEVELS])
    return {name: [ranking.Entry(f.area_id, f.name, 100 * f.coverage.met, f.coverage.unknown, f.meets)
                   for f in figures if f.level == name] for name, _, _ in LEVELS}


def _rows(ranked: list[ranking.Ranked]) -> list[dict]:
    return [{"rank": r.rank, "area_id": r.area_id, "name": r.name, "score": round(r.score, 2), "unknown": r.unknown,
             "meets": r.meets, "yellow_card": r.last, "years_last": r.years_last, "veto": r.veto} for r in ranked]


def build(a: Assessor, period: NamedPeriod, now: float, *, charts_too: bool = True) -> Report:
    tz = a.std.timezone
    quarters: list[Quarter] = []
    notes: list[str] = []
    for q in period.quarters():
        start, end = q.bounds(tz)
        if start >= now:
            notes.append(f"{q.label} has not begun: not ranked")
            continue
        closed = end <= now
        try:
            entries = _entries(a, start, min(end, now))
        except CoverageError as e:
            notes.append(f"{q.label}: not ranked ({e})")
            continue
        if not closed:
            notes.append(f"{q.label} is not over: ranked on its days up to {rfc3339(now, tz)}")
        quarters.append(Quarter(q.label, entries, start, min(end, now), closed))
    if not quarters:
        raise CoverageError(f"nothing to rank in {period.label}: " + "; ".join(notes))
    tables, headlines, drawn = [], [], []
    standard = a.std.digest()
    yearly = period.kind == "year"
    for name, _, title in LEVELS:
        level_tables = []
        for q in quarters:
            ranked = ranking.rank(q.entries[name])
            if q.closed:
                ranking.store(a.conn, q.label, name, ranked, standard)
            level_tables.append(Table(f"{name}_{q.label}", f"{title} · {q.label}", COLUMNS, _rows(ranked),
                                      frozenset({"unknown"})))
            if not yearly:
                headlines.append(Headline.attainment(f"{name}s meeting 90% ({q.label}) 达标率",
                                                     [r.meets for r in ranked], TARGET))
                drawn.append((f"{title} · {q.label}", ranked))
        if yearly:
            ranked = ranking.rank(ranking.yearly([q.entries[name] for q in quarters]))
            ranked = ranking.years_last(a.conn, name, period.first.year, ranked)
            if all(q.closed for q in quarters) and len(quarters) == 4:
                ranking.store(a.conn, period.label, name, ranked, standard)
            level_tables.insert(0, Table(f"{name}_{period.label}", f"{title} · {period.label} (year)", YEAR_COLUMNS,
                                         _rows(ranked), frozenset({"unknown"})))
            headlines.append(Headline.attainment(f"{name}s meeting 90% ({period.label}) 达标率",
                                                 [r.meets for r in ranked], TARGET))
            vetoed = [r.name for r in ranked if r.veto]
            if vetoed:
                notes.append(f"one-vote veto 一票否决 ({name}s last {ranking.VETO_YEARS} years running): "
                             + ", ".join(vetoed))
            drawn.append((f"{title} · {period.label}", ranked))
        tables += level_tables
    last_version = versions_between(a.conn, quarters[0].start, quarters[-1].end)[-1][0]
    about = {**completeness(a.conn, a.city(last_version), quarters[0].start, quarters[-1].end),
             "quarters": ", ".join(q.label + ("" if q.closed else " (so far)") for q in quarters),
             "grid standard": standard[:12],
             "generated": datetime.fromtimestamp(time.time(), ZoneInfo(tz)).isoformat(timespec="seconds")}
    first, last = quarters[0].start, quarters[-1].end
    report = Report("ranking", "Defence-system ranking 防控体系排名",
                    {"label": period.label, "from": rfc3339(first, tz), "to": rfc3339(last, tz), "timezone": tz},
                    about, headlines, tables, METHODS, notes=notes)
    if charts_too:
        for title, ranked in drawn:
            shown = ranked if len(ranked) <= 40 else ranked[:20] + ranked[-20:]
            report.charts.append((title + ("" if shown is ranked else " (the 20 first and 20 last)"), charts.shares_bars(
                [f"{r.rank}. {r.name}" for r in shown], [r.score / 100 for r in shown], [r.unknown for r in shown],
                TARGET, "score (coverage) 得分; yellow card marked 黄牌", [r.last for r in shown])))
        if len(quarters) > 1:
            report.charts.append(("Quarters 季度趋势", charts.trend(
                [q.label for q in quarters],
                {e.name: [next((x.score / 100 for x in q.entries["district"] if x.area_id == e.area_id), None)
                          for q in quarters] for e in quarters[0].entries["district"]},
                TARGET, "district scores by quarter")))
    return report
