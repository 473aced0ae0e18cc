"""The patrol report: per unit and team, patrol minutes per cell, visits, cells never visited,
revisit intervals exceeded, track length and silent stretches."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from assessment.defence import Assessor
from assessment.patrols import patrols
from assessment.periods import rfc3339
from assessment.report import completeness
from store.registry import versions_between

from . import charts
from .document import Headline, Report, Table

UNIT_COLUMNS = (("unit_id", "unit 巡逻单元"), ("kind", "kind 类型"), ("team", "team 队"), ("fixes", "fixes 定位点"),
                ("km", "track (km) 里程"), ("visits", "visits 到访"), ("cells", "cells visited 到访网格"),
                ("patrol_min", "minutes in visits 巡逻分钟"), ("top_cells", "most time in 主要网格"),
                ("silent", "silent stretches 失联次数"), ("silent_min", "silent (min) 失联分钟"))
TEAM_COLUMNS = (("team_id", "team 队"), ("name", "name 名称"), ("units", "units 单元"), ("km", "track (km)"),
                ("visits", "visits"), ("cells", "cells 网格"), ("visited", "visited 已到访"),
                ("never_visited", "never visited 未到访"), ("revisit_exceeded", "revisit exceeded 超过巡逻间隔"),
                ("silent_min", "silent (min)"))
CELL_COLUMNS = (("unit_id", "unit"), ("cell_id", "cell 网格"), ("minutes", "minutes 分钟"))
METHODS = [
    "Visits and minutes per cell: the unit's unbroken stays of at least its kind's dwell time (the coverage rule's "
    "own; fixes more than max_gap_s apart are not a stay), cut to the period.",
    "Track length: the geodesic length between consecutive fixes at most max_gap_s apart.",
    "Silent stretches: gaps longer than max_gap_s between two fixes of the period; before a unit's first fix and "
    "after its last it is off duty, not silent.",
    "Teams: the street/township each unit belongs to (the registry). Never visited: the street's cells none of its "
    "units visited. Revisit exceeded: the street's cells whose gap between visits (anyone's, or from the period's "
    "start, or to its end) exceeded the revisit interval inside the active hours, not counting cells unknown "
    "(a silent unit, the ingest not receiving).",
]


def build(a: Assessor, start: float, end: float, label: str, *, charts_too: bool = True,
          notes: list[str] | None = None) -> Report:
    tz = a.std.timezone
    version = versions_between(a.conn, start, end)[-1][0]
    city = a.city(version)
    units, teams = patrols(a.conn, city, a.std, start, end)
    a.conn.commit()
    urows, crows = [], []
    for u in units:
        top = sorted(u.seconds_by_cell.items(), key=lambda x: -x[1])[:3]
        urows.append({"unit_id": u.unit_id, "kind": u.kind, "team": u.team, "fixes": u.fixes,
                      "km": round(u.metres / 1000, 3), "visits": u.visits, "cells": len(u.seconds_by_cell),
                      "patrol_min": round(sum(u.seconds_by_cell.values()) / 60, 1),
                      "top_cells": ", ".join(f"{c} {s / 60:.0f} min" for c, s in top), "silent": u.silent,
                      "silent_min": round(u.silent_s / 60, 1)})
        crows += [{"unit_id": u.unit_id, "cell_id": c, "minutes": round(s / 60, 1)}
                  for c, s in sorted(u.seconds_by_cell.items())]
    trows = [{"team_id": t.team_id, "name": t.name, "units": t.units, "km": round(t.metres / 1000, 3),
              "visits": t.visits, "cells": t.cells, "visited": len(t.visited), "never_visited": len(t.never_visited),
              "revisit_exceeded": len(t.revisit_exceeded), "silent_min": round(t.silent_s / 60, 1),
              "never_visited_cells": t.never_visited, "revisit_exceeded_cells": t.revisit_exceeded} for t in teams]
    cells = sum(t.cells for t in teams)
    headlines = [Headline("cells visited by their team 网格到访率", sum(t["visited"] for t in trows) / cells
                          if cells else None, None, f"{sum(t['visited'] for t in trows)} of {cells}"),
                 Headline("units heard 有定位的单元", sum(u.fixes > 0 for u in units) / len(units) if units else None,
                          None, f"{sum(u.fixes > 0 for u in units)} of {len(units)}")]
    about = {**completeness(a.conn, city, start, end), "grid version": version, "units": len(units), "teams": len(teams),
             "generated": datetime.fromtimestamp(time.time(), ZoneInfo(tz)).isoformat(timespec="seconds")}
    report = Report("patrol", "Patrol report 巡逻报告", {"label": label, "from": rfc3339(start, tz),
                                                    "to": rfc3339(end, tz), "timezone": tz},
                    about, headlines,
                    [Table("teams", "Teams 巡逻队", TEAM_COLUMNS, trows), Table("units", "Units 巡逻单元", UNIT_COLUMNS, urows),
                     Table("cells", "Minutes per unit and cell 各单元各网格巡逻分钟", CELL_COLUMNS, crows)],
                    METHODS, notes=list(notes or []))
    if charts_too and trows:
        shown = sorted(trows, key=lambda t: t["visited"] / t["cells"] if t["cells"] else 0)[:30]
        report.charts.append(("Teams: their cells visited 各队网格到访", charts.shares_bars(
            [t["name"] for t in shown], [t["visited"] / t["cells"] if t["cells"] else 0 for t in shown],
            [0.0] * len(shown), 1.0, "share of the team's cells visited")))
        busiest = sorted(urows, key=lambda u: -u["km"])[:30]
        report.charts.append(("Track length 里程", charts.bars([u["unit_id"] for u in busiest],
                                                            [u["km"] for u in busiest], "km per unit", "km")))
    return report
