"""A report asked for (kind, period, areas, format), made on a database connection: what the
command line and the HTTP API both call."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import psycopg

from assessment.defence import TARGET, Assessor, CoverageError
from assessment.periods import NAMED_FORMS, PeriodError, named_period, parse_period, rfc3339, up_to_now
from assessment.standards import Standards
from assessment.strength import Rules
from geofence.grid import Grid, Level
from store.migrate import uses_timescale
from store.registry import versions_between

from .document import FORMATS, Headline, Report, render

KINDS = ("assessment", "ranking", "uptime", "patrol")
MAX_DAYS = 400
LEVELS = {"district": (Level.DISTRICT,), "street": (Level.STREET,), "all": (Level.DISTRICT, Level.STREET)}


class ReportError(Exception):
    """The report cannot be made as asked: the reason, for the person who asked."""


@dataclass(frozen=True)
class Ask:
    kind: str
    period: str | None = None  # 2026-Q3, 2026, 2026-11, 2026-W47, 2026-11-20
    start: str | None = None  # or --from / --to
    end: str = "now"
    level: str = "all"
    area: str | None = None
    sla: float = 0.95
    reach_minutes: float = 5.0
    fmt: str = "json"
    table: str | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise ReportError(f"no report {self.kind!r}: one of {', '.join(KINDS)}")
        if self.fmt not in FORMATS:
            raise ReportError(f"no format {self.fmt!r}: one of {', '.join(FORMATS)}")
        if self.level not in LEVELS:
            raise ReportError(f"no level {self.level!r}: one of {', '.join(LEVELS)}")
        if not 0 < self.reach_minutes <= 120:
            raise ReportError(f"the reach minutes are between 0 and 120, not {self.reach_minutes}")
        if not 0 < self.sla <= 1:
            raise ReportError(f"the SLA is a share between 0 and 1 (0.95 for 95%), not {self.sla}")
        if self.period and self.start:
            raise ReportError("give a period or from/to, not both")
        if self.kind == "ranking" and not self.period:
            raise ReportError("a ranking is of a quarter or a year: period 2026-Q3 or 2026")
        if not self.period and not self.start:
            raise ReportError(f"say which period: a period ({NAMED_FORMS}) or from/to")


def period_of(ask: Ask, tz: str, now: float) -> tuple[float, float, str, str | None]:
    """(start, end, label, note) of the period asked for; one reaching past now ends now, said."""
    if ask.period:
        p = named_period(ask.period)
        start, end, note = up_to_now(*p.bounds(tz), tz, now, p.label)
        return start, end, p.label, note
    start, end, note = parse_period(ask.start or "", ask.end, tz, now)
    return start, end, f"{rfc3339(start, tz)[:10]} – {rfc3339(end, tz)[:10]}", note


def load_renderers() -> None:
    """Import every report kind with what draws it (matplotlib, WeasyPrint, XlsxWriter) now, on
    the caller's thread. A server calls it before it serves: the first report asked for does not
    wait for them, and no import runs on a request's worker thread beside others (matplotlib's
    import parses Python source, and CPython 3.11's parser keeps one recursion count for all
    threads: two parsing at once can fail with SystemError). A missing system library for PDFs
    is not an error here: the PDF asked for says so."""
    for module in ("xlsxwriter", "reports.assessment", "reports.patrol", "reports.ranking", "reports.uptime"):
        importlib.import_module(module)
    try:
        importlib.import_module("weasyprint")
    except OSError:
        pass


def make(conn: psycopg.Connection, std: Standards, ask: Ask, now: float, *, progress: bool = False,
         shifts: tuple[str, ...] = Rules.shifts, team_minimum: int = Rules.minimum) -> tuple[Report, bytes, str]:
    """(the report, its bytes in the format asked for, a file name for it). shifts and
    team_minimum: the settings' (alerts.team_shifts, coverage.team_minimum)."""
    from . import assessment, patrol, ranking, uptime

    ask.check()
    drawn = ask.fmt in ("html", "pdf")
    try:
        a = Assessor(conn, std, timescale=uses_timescale(conn), progress=progress, keep_rows=True, clock=lambda: now)
        if ask.kind == "ranking":
            period = named_period(ask.period or "")
            report, label = ranking.build(a, period, now, charts_too=drawn), period.label
            span = period.bounds(std.timezone)
        else:
            start, end, label, note = period_of(ask, std.timezone, now)
            span = (start, end)
            if end - start > MAX_DAYS * 86_400:
                raise ReportError(f"a report covers at most {MAX_DAYS} days (a year); this period has "
                                  f"{(end - start) / 86_400:.0f}")
            notes = [note] if note else []
            if not versions_between(conn, start, end):
                raise CoverageError("no grid was loaded for the period: run `pingan migrate` with grid.path set")
            if ask.kind == "uptime":
                report = uptime.build(a, start, end, label, now, ask.sla, charts_too=drawn, notes=notes)
            elif ask.kind == "patrol":
                report = patrol.build(a, start, end, label, charts_too=drawn, notes=notes)
            else:
                result = a.period(start, end)
                result.notes += notes
                report = assessment.build(a, result, label, charts_too=drawn, levels=LEVELS[ask.level], now=now,
                                          rules=Rules(tuple(shifts), team_minimum, ask.reach_minutes))
        if ask.area:
            _only(report, a.city(versions_between(conn, span[0], min(span[1], now))[-1][0]).grid, ask.area)
    except (PeriodError, CoverageError) as e:
        raise ReportError(str(e)) from None
    except psycopg.errors.UndefinedTable:
        raise ReportError("the database has no Pingan schema: run `pingan migrate`") from None
    try:
        body = render(report, ask.fmt, ask.table)
    except (ValueError, RuntimeError) as e:
        raise ReportError(str(e)) from None
    name = f"pingan-{ask.kind}-{label.replace(' ', '').replace('–', '_')}.{ask.fmt}"
    return report, body, name


def _only(report: Report, grid: Grid, area: str) -> None:
    """Keep the rows of this area and of what lies within it (areas, cameras, teams, units)."""
    if area not in grid.cells:
        raise ReportError(f"no area {area!r} in the grid of this period")

    def within(x) -> bool:
        return x == area or (isinstance(x, str) and area in grid.ancestors.get(x, ()))

    for t in report.tables:
        if not (report.kind == "patrol" and t.name == "cells"):
            t.rows = [r for r in t.rows if any(within(r.get(k)) for k in
                                               ("area_id", "group_id", "team_id", "team", "street", "district",
                                                "district_id"))]
    units = {r["unit_id"] for t in report.tables if t.name == "units" for r in t.rows}
    for t in report.tables:
        if report.kind == "patrol" and t.name == "cells":  # the cells of the area's units
            t.rows = [r for r in t.rows if r["unit_id"] in units]
    # the headlines and charts were the city's: the headlines are made again from the rows kept;
    # the charts (drawn for the whole city) are left out
    report.headlines = _headlines(report, area, grid.cells[area].name)
    report.charts = []
    report.notes.append(f"limited to {grid.cells[area].name} ({area}) and what lies within it; charts are drawn "
                        "for the whole city only")


def _headlines(report: Report, area: str, name: str) -> list[Headline]:
    rows = {t.name: t.rows for t in report.tables}
    out: list[Headline] = []
    if report.kind == "assessment":
        own = next((r for t in ("districts", "streets") for r in rows.get(t, ()) if r["area_id"] == area), None)
        if own is not None:
            out.append(Headline(f"defence-system coverage 防控体系覆盖率 ({name})", own["coverage"], TARGET,
                                f"unknown {own['coverage_unknown']:.1%}"))
        for t, label in (("districts", "districts meeting 90% 区达标率"),
                         ("streets", "streets/townships meeting 90% 街镇达标率")):
            if rows.get(t):
                out.append(Headline.attainment(label, [r["meets"] for r in rows[t]], TARGET))
    elif report.kind == "uptime":
        out.append(Headline.attainment("key cameras meeting the SLA 达标摄像机", [r["meets_sla"] for r in rows["cameras"]],
                                       None))
    elif report.kind == "patrol":
        cells = sum(r["cells"] for r in rows["teams"])
        out.append(Headline("cells visited by their team 网格到访率", sum(r["visited"] for r in rows["teams"]) / cells
                            if cells else None, None, f"{sum(r['visited'] for r in rows['teams'])} of {cells}"))
    else:
        for t in report.tables:
            out.append(Headline.attainment(f"{t.title}: meeting 90% 达标率", [r["meets"] for r in t.rows], TARGET))
    return out
