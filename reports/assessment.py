"""The quarterly assessment as a document: per district and per street/township the composite
defence-system coverage against 90% and its three parts, each with its unknown share beside it,
the attainment rate, a coverage map of the city, the trend over the period's days."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from assessment import strength
from assessment.defence import TARGET, Assessor, PeriodResult
from assessment.periods import rfc3339
from assessment.report import AreaFigures, assessment, completeness
from geofence.grid import Level

from . import charts
from .document import Headline, Report, Table

COLUMNS = (("area_id", "area 区域"), ("name", "name 名称"), ("cells", "cells 网格"), ("coverage", "coverage 覆盖率"),
           ("coverage_unknown", "unknown 未知"), ("coverage_not", "not covered 未覆盖"), ("meets", "≥ 90%"),
           ("patrol", "patrol 巡逻"), ("patrol_unknown", "patrol unknown"), ("cameras", "key cameras 重点摄像机"),
           ("cameras_unknown", "cameras unknown"), ("outages", "outages 故障次数"),
           ("checkpoints", "checkpoints 卡口"), ("checkpoints_unknown", "checkpoints unknown"))
PERCENT = frozenset(k for k, _ in COLUMNS if k not in ("area_id", "name", "cells", "meets", "outages"))

METHODS = [
    "Defence-system coverage (composite) of an area: the share of its cells' assessed time in which the cell was "
    "covered — a cell is covered in a day when its patrol met the revisit standard, its key-location cameras met the "
    "uptime standard and its checkpoints the staffing standard; not covered when any of them failed; unknown when "
    "none failed but one could not be judged (the ingest not receiving, a silent unit). Unknown is never counted "
    "covered. Cells count equally.",
    "Patrol: the share of the area's cell-time whose patrol met the revisit standard (a visit is a stay of at least "
    "the kind's dwell time; a gap longer than the cell's revisit interval inside the active hours fails the day).",
    "Key cameras: seconds up over seconds up + down + unknown of the key-location cameras in the area (a heartbeat "
    "counts the camera up until it is missed; silence past the missed heartbeats is down; time the ingest was not "
    "receiving is unknown). Outages: down spells begun in the period.",
    "Checkpoints: minutes staffed by at least min_staff officers over the minutes scheduled; unknown minutes are "
    "those the ingest was not receiving.",
    "The area meets the standard when its composite coverage is at least 90%. Attainment rate: the share of the "
    "districts (streets/townships) that meet it, against 90%.",
    "Every figure is summed from the stored daily results (pingan.coverage_daily); days not yet stored are assessed "
    "from the raw data once and stored.",
    "Team strength: per township team and shift, the distinct officers seen aboard its units' fixes; a shift meets "
    "the standard with at least the minimum (coverage.team_minimum); a shift the ingest received less than half of is "
    "unknown. Response reach: every hour on the hour, the share of each district's area within the reach minutes of an "
    "on-duty unit (a fix in the last max_gap_s, where it last was) at its kind's speed in a straight line; the mean "
    "over the hours the ingest was receiving, the other hours its unknown share.",
]


def _row(f: AreaFigures) -> dict:
    def part(s, attr):
        return None if s is None else getattr(s, attr)

    return {"area_id": f.area_id, "name": f.name, "level": f.level, "cells": f.cells, "coverage": f.coverage.met,
            "coverage_unknown": f.coverage.unknown, "coverage_not": f.coverage.not_met, "meets": f.meets,
            "patrol": part(f.patrol, "met"), "patrol_unknown": part(f.patrol, "unknown"),
            "cameras": part(f.cameras, "met"), "cameras_unknown": part(f.cameras, "unknown"), "outages": f.outages,
            "checkpoints": part(f.checkpoints, "met"), "checkpoints_unknown": part(f.checkpoints, "unknown")}


def daily_coverage(a: Assessor, result: PeriodResult, areas: dict[str, str]) -> tuple[list[str], dict[str, list]]:
    """Per day of the period: the covered share of each area's cells (areas: cell → area), from the stored days."""
    cells, owners = list(areas), [areas[c] for c in areas]
    rows = a.conn.execute(
        "WITH m AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS m(cell, area)) "
        "SELECT d.day, m.area, sum(date_part('epoch', d.part_to - d.part_from)) FILTER (WHERE d.status = 'covered'), "
        "sum(date_part('epoch', d.part_to - d.part_from)) FROM pingan.coverage_daily d JOIN m ON m.cell = d.cell_id "
        "WHERE d.part_from >= to_timestamp(%s) AND d.part_to <= to_timestamp(%s) AND d.standard = %s "
        "GROUP BY d.day, m.area ORDER BY d.day", (cells, owners, result.start, result.end, a.std.digest())).fetchall()
    a.conn.commit()
    days = sorted({r[0] for r in rows})
    at = {d: k for k, d in enumerate(days)}
    series: dict[str, list] = {}
    for day, area, covered, total in rows:
        series.setdefault(area, [None] * len(days))[at[day]] = (covered or 0.0) / total if total else None
    return [d.isoformat() for d in days], series


TEAM_COLUMNS = (("team_id", "team 队"), ("name", "name 名称"), ("shifts", "shifts 班次"),
                ("met", "shifts with enough members 达标班次"), ("share_met", "share met 达标率"),
                ("unknown", "unknown shifts 未知班次"), ("fewest", "fewest members 最少人数"))
REACH_COLUMNS = (("district_id", "district 区"), ("name", "name 名称"), ("reach", "reach 快速反应覆盖"),
                 ("unknown", "unknown 未知"), ("samples", "samples 采样"))


def build(a: Assessor, result: PeriodResult, label: str, *, charts_too: bool = True,
          levels: tuple[Level, ...] = (Level.DISTRICT, Level.STREET), rules: strength.Rules | None = None,
          now: float | None = None) -> Report:
    rules = rules or strength.Rules()
    tz = a.std.timezone
    figures = assessment(a, result, levels)
    rows = [_row(f) for f in figures]
    districts = [r for r in rows if r["level"] == "district"]
    streets = [r for r in rows if r["level"] == "street"]
    city = a.areas(result, Level.CITY)
    headlines = [Headline("defence-system coverage 防控体系覆盖率 (city)", city[0].covered if city else None, TARGET,
                          f"unknown {city[0].unknown:.1%}" if city else "")]
    if districts:
        headlines.append(Headline.attainment("districts meeting 90% 区达标率", [r["meets"] for r in districts], TARGET))
    if streets:
        headlines.append(Headline.attainment("streets/townships meeting 90% 街镇达标率", [r["meets"] for r in streets],
                                             TARGET))
    headlines.append(Headline("data received 数据完整率", result.observed_s / result.seconds, None,
                              "time the ingest was receiving"))
    tables = [Table(name, title, COLUMNS, rs, PERCENT) for name, title, rs in
              (("districts", "Districts 区", districts), ("streets", "Streets and townships 街道/乡镇", streets)) if rs]
    teams, reach = strength.period(a.conn, a.std, rules, result.start, result.end,
                                   a.clock() if now is None else now, a.city)
    tables.append(Table("teams", f"Team strength per shift (≥ {rules.minimum} members) 巡逻队每班人数", TEAM_COLUMNS,
                        [{"team_id": t.team_id, "name": t.name, "shifts": t.shifts, "met": t.met,
                          "share_met": t.share_met, "unknown": t.unknown, "fewest": t.fewest,
                          "meets": None if t.share_met is None else t.share_met >= 1.0} for t in teams],
                        frozenset({"share_met"})))
    tables.append(Table("reach", f"Response reach: share within {rules.minutes:g} min of an on-duty unit 快速反应覆盖",
                        REACH_COLUMNS, [{"district_id": r.district_id, "name": r.name, "reach": r.reach,
                                         "unknown": r.unknown_share, "samples": r.samples} for r in reach],
                        frozenset({"reach", "unknown"})))
    known = [t for t in teams if t.shifts > t.unknown]
    headlines.insert(len(headlines) - 1, Headline(
        f"team shifts with ≥ {rules.minimum} members 班次达标率",
        sum(t.met for t in known) / sum(t.shifts - t.unknown for t in known) if known else None, None,
        f"{sum(t.unknown for t in teams)} shifts unknown"))
    versions = sorted({p.version for p in result.parts})
    about = {"grid versions": ", ".join(map(str, versions)), "parts assessed": len(result.parts),
             "parts from stored days": result.stored_parts,
             **completeness(a.conn, a.city(versions[-1]), result.start, result.end),
             "generated": datetime.fromtimestamp(time.time(), ZoneInfo(tz)).isoformat(timespec="seconds")}
    report = Report("assessment", "Defence-system assessment 防控体系覆盖考核",
                    {"label": label, "from": rfc3339(result.start, tz), "to": rfc3339(result.end, tz), "timezone": tz},
                    about, headlines, tables, METHODS, notes=list(result.notes))
    if charts_too:
        if districts:
            report.charts.append(("Districts against 90% 各区覆盖率", charts.shares_bars(
                [f"{r['name']}" for r in districts], [r["coverage"] for r in districts],
                [r["coverage_unknown"] for r in districts], TARGET, "defence-system coverage")))
        grid = a.city(versions[-1]).grid
        shares = result.cell_shares()
        leaves = grid.leaves
        report.charts.append(("Coverage map 覆盖地图", charts.coverage_map(
            [c.geometry for c in leaves], [shares[c.id]["covered"] if c.id in shares else None for c in leaves],
            "each cell: covered share of the period's known time",
            [shares[c.id]["unknown"] if c.id in shares else 1.0 for c in leaves])))
        owner = {c.id: grid.above(c.id, Level.DISTRICT) or "C" for c in leaves}
        days, series = daily_coverage(a, result, owner)
        if len(days) > 1:
            names = {r["area_id"]: r["name"] for r in districts}
            report.charts.append(("Trend over the period 趋势", charts.trend(
                days, {names.get(k, k): v for k, v in sorted(series.items())}, TARGET, "covered share per day")))
        if streets:
            worst = sorted(streets, key=lambda r: r["coverage"])[:20]
            report.charts.append(("The 20 streets/townships furthest from 90% 覆盖率最低的街镇", charts.shares_bars(
                [r["name"] for r in worst], [r["coverage"] for r in worst], [r["coverage_unknown"] for r in worst],
                TARGET, "defence-system coverage")))
    return report
