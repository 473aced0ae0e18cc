"""`pingan report KIND`: the assessment documents, for a named period or --from/--to."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

from assessment.defence import Assessor, CoverageError
from assessment.periods import NAMED_FORMS, PeriodError, named_period, parse_period, rfc3339
from geofence.grid import Level
from store.registry import versions_between

KINDS = {"assessment": "per district and street/township: defence-system coverage against 90%% and its parts",
         "ranking": "the quarter's ranking, or the year's from its quarters (--period 2026-Q3 or 2026): yellow cards, "
                    "years last running, attainment",
         "uptime": "for maintenance teams: per camera, street, district and category availability against the SLA, "
                   "outages, MTTR, longest outage, image faults",
         "patrol": "per unit and team: minutes per cell, visits, cells never visited, revisit intervals exceeded, "
                   "track length, silent stretches"}

EPILOG = f"""\
PERIOD: {NAMED_FORMS} (the city's calendar, coverage.timezone); or --from/--to with any time
`pingan coverage` takes. A period reaching past now is reported up to now, and says so.

Run it on a schedule with cron or a systemd timer, e.g. the quarter just closed, at 06:00 on
the 2nd of January, April, July and October (Q is the quarter before, 1 to 4):
  0 6 2 1,4,7,10 *  pingan report assessment --period 2026-Q$Q --format pdf --out /srv/reports/
"""


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="assessment reports as documents: JSON, CSV, XLSX, HTML, PDF",
                       description="A report of a period, assembled from the stored daily results (a day not yet "
                                   "stored is assessed once and stored). Every report states its period, grid "
                                   "versions, data completeness and how each figure is computed.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=sorted(KINDS), help="; ".join(f"{k}: {v}" for k, v in KINDS.items()))
    p.add_argument("--period", metavar="PERIOD", help="2026-Q3, 2026, 2026-11, 2026-W47 or 2026-11-20")
    p.add_argument("--from", dest="start", metavar="TIME", help="instead of --period: from this time …")
    p.add_argument("--to", dest="end", metavar="TIME", default="now", help="… to this one (default: now)")
    p.add_argument("--level", choices=["district", "street", "all"], default="all",
                   help="which areas' rows (default: districts and streets)")
    p.add_argument("--area", metavar="ID", help="only this area and the areas within it")
    p.add_argument("--sla", type=float, default=0.95, metavar="SHARE",
                   help="uptime: the availability key-location cameras are held to (default 0.95)")
    p.add_argument("--format", choices=["json", "csv", "xlsx", "html", "pdf"], default="json")
    p.add_argument("--table", metavar="NAME", help="CSV: which table (default: the first; assessment: districts, "
                                                  "streets; ranking: district_2026-Q3, street_2026 …)")
    p.add_argument("--out", metavar="PATH", help="write here (a directory: a file named for the report in it); "
                                                 "default: standard output for json and csv, else a file here")


def period_of(args, tz: str, now: float) -> tuple[float, float, str, str | None]:
    """(start, end, label, note) of the period asked for."""
    if args.period and args.start:
        raise PeriodError("give --period or --from/--to, not both")
    if args.period:
        p = named_period(args.period)
        start, end = p.bounds(tz)
        if start >= now:
            raise PeriodError(f"{p.label} has not begun; nothing has happened in it yet")
        note = None
        if end > now:
            note = f"{p.label} is not over: reported up to now ({rfc3339(now, tz)})"
            end = now
        return start, end, p.label, note
    if not args.start:
        raise PeriodError(f"say which period: --period ({NAMED_FORMS}) or --from/--to")
    start, end, note = parse_period(args.start, args.end, tz, now)
    return start, end, f"{rfc3339(start, tz)[:10]} – {rfc3339(end, tz)[:10]}", note


def run(settings, args, db_url: str, std) -> int:
    from reports import assessment as assessment_report

    now = time.time()
    try:
        start, end, label, note = period_of(args, std.timezone, now)
    except PeriodError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.kind == "ranking":
        return _ranking(args, db_url, std, now)
    if not 0 < args.sla <= 1:
        print(f"error: --sla is a share between 0 and 1 (0.95 for 95%), not {args.sla}", file=sys.stderr)
        return 2
    levels = {"district": (Level.DISTRICT,), "street": (Level.STREET,), "all": (Level.DISTRICT, Level.STREET)}[args.level]
    try:
        with psycopg.connect(db_url) as conn:
            timescale = bool(conn.execute("SELECT count(*) FROM pingan.schema_migration WHERE variant = 'timescale'")
                             .fetchone()[0])
            conn.commit()
            a = Assessor(conn, std, timescale=timescale, progress=True, keep_rows=True, clock=lambda: now)
            if args.kind in ("uptime", "patrol"):
                from reports import patrol as patrol_report
                from reports import uptime as uptime_report

                if not versions_between(conn, start, end):
                    raise CoverageError("no grid was loaded for the period: run `pingan migrate` with grid.path set")
                drawn, notes = args.format in ("html", "pdf"), [note] if note else []
                report = (uptime_report.build(a, start, end, label, now, args.sla, charts_too=drawn, notes=notes)
                          if args.kind == "uptime" else patrol_report.build(a, start, end, label, charts_too=drawn,
                                                                            notes=notes))
                return _write(report, args, label)
            result = a.period(start, end)
            if note:
                result.notes.append(note)
            report = assessment_report.build(a, result, label, charts_too=args.format in ("html", "pdf"), levels=levels)
    except CoverageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except psycopg.errors.UndefinedTable:
        print("error: the database has no Pingan schema: run `pingan migrate`", file=sys.stderr)
        return 2
    except psycopg.OperationalError as e:
        print(f"error: cannot reach the database: {e}", file=sys.stderr)
        return 2
    if args.area:
        grid = a.city(max(p.version for p in result.parts)).grid

        def within(x: str | None) -> bool:
            while x is not None:
                if x == args.area:
                    return True
                x = grid.cells[x].parent if x in grid.cells else None
            return False

        for t in report.tables:
            t.rows = [r for r in t.rows if within(r["area_id"])]
        if not any(t.rows for t in report.tables):
            print(f"error: no area {args.area!r} in the grid of this period", file=sys.stderr)
            return 2
    return _write(report, args, label)


def _ranking(args, db_url: str, std, now: float) -> int:
    from reports import ranking as ranking_report

    try:
        if not args.period or args.start:
            raise PeriodError("a ranking is of a quarter or a year: --period 2026-Q3 or --period 2026")
        period = named_period(args.period)
        with psycopg.connect(db_url) as conn:
            a = Assessor(conn, std, progress=True, keep_rows=True, clock=lambda: now)
            report = ranking_report.build(a, period, now, charts_too=args.format in ("html", "pdf"))
    except (PeriodError, CoverageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as e:
        print(f"error: cannot reach the database: {e}", file=sys.stderr)
        return 2
    return _write(report, args, period.label)


def _write(report, args, label: str) -> int:
    from reports.document import render

    try:
        body = render(report, args.format, args.table)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = f"pingan-{args.kind}-{label.replace(' ', '').replace('–', '_')}.{args.format}"
    if args.out is None and args.format in ("json", "csv"):
        sys.stdout.buffer.write(body)
        return 0
    path = Path(args.out or name)
    if path.is_dir():
        path = path / name
    path.write_bytes(body)
    print(f"wrote {path} ({len(body):,} bytes)", file=sys.stderr)
    return 0
