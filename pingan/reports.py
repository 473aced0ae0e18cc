"""`pingan report KIND`: the assessment documents, for a named period or --from/--to."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

from assessment.periods import NAMED_FORMS

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

Run it on a schedule with cron or a systemd timer: the README's Reports section has a cron
line for the quarter just closed.
"""


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="reports (assessment, ranking, uptime, patrol) as JSON, CSV, XLSX, HTML or PDF",
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
    p.add_argument("--reach-minutes", type=float, default=5.0, metavar="MIN",
                   help="assessment: response reach, the share of each district within this many minutes of an "
                        "on-duty unit (default 5)")
    p.add_argument("--format", choices=["json", "csv", "xlsx", "html", "pdf"], default="json")
    p.add_argument("--table", metavar="NAME", help="CSV: which table (default: the first; assessment: districts, "
                                                  "streets; ranking: district_2026-Q3, street_2026 …)")
    p.add_argument("--out", metavar="PATH", help="write here (a directory: a file named for the report in it); "
                                                 "default: standard output for json and csv, else a file here")


def run(settings, args, db_url: str, std) -> int:
    from reports.make import Ask, ReportError, make

    ask = Ask(args.kind, args.period, args.start, args.end, args.level, args.area, args.sla, args.reach_minutes,
              args.format, args.table)
    try:
        with psycopg.connect(db_url) as conn:
            _, body, name = make(conn, std, ask, time.time(), progress=True, shifts=tuple(settings.alerts.team_shifts),
                                 team_minimum=settings.coverage.team_minimum)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as e:
        print(f"error: cannot reach the database: {e}", file=sys.stderr)
        return 2
    if args.out is None and args.format in ("json", "csv"):
        sys.stdout.buffer.write(body)
        return 0
    path = Path(args.out or name)
    if path.is_dir():
        path = path / name
    path.write_bytes(body)
    print(f"wrote {path} ({len(body):,} bytes)", file=sys.stderr)
    return 0
