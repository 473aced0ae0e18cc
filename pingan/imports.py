"""`pingan import`: declare a stretch of past time received by an import of its data.

Time in which no ingest worker was receiving is unknown to the assessment and to the live alert
rules: never covered, never a failure. Data brought in afterwards — a device's backlog published
late, another system's history, a replayed scenario — arrives while the ingest is receiving *now*,
not *then*; the stretch it covers is only judged once somebody declares that it was received in
full. This command is that declaration (kept in ``pingan.ingest_uptime``, source ``import``)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from .config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="declare a past stretch received by an import of its data",
                       description="After importing past data (a device's backlog, another system's history, a "
                                   "replayed scenario), declare the stretch it covers as received: the assessment "
                                   "and the alert rules then judge it instead of calling it unknown. Declare only "
                                   "what the import brought in full: a stretch declared received with data "
                                   "missing is judged as if nothing happened in it (cells unvisited, checkpoints "
                                   "unstaffed). Without --from/--to: list the declarations.")
    p.add_argument("--from", dest="start", metavar="TIME", help="e.g. 2026-11-20T08:00, yesterday, -6h")
    p.add_argument("--to", dest="end", metavar="TIME", help="the end (not included); at most now")
    p.add_argument("--name", help="what was imported (kept with the declaration)")
    p.add_argument("--allow-empty", action="store_true",
                   help="declare it although nothing is stored in it yet (a replay about to be published, "
                        "or a stretch that really was quiet)")


def cmd_import(settings: Settings, args, db_url: str) -> int:
    from .services import operator_connection

    if (args.start is None) != (args.end is None):
        print("error: give both --from and --to (or neither, to list the declarations)", file=sys.stderr)
        return 2
    conn = operator_connection(settings.database.connect_timeout_s, db_url)
    if conn is None:
        return 2
    with conn:
        try:
            if args.start is None:
                return _list(conn, ZoneInfo(settings.coverage.timezone))
            return _declare(conn, args, settings.coverage.timezone, time.time())
        except psycopg.errors.UndefinedTable:
            print("error: the database has no Pingan schema: run `pingan migrate`", file=sys.stderr)
            return 2


def _declare(conn: psycopg.Connection, args, tz: str, now: float) -> int:
    from assessment.periods import PeriodError, parse_time
    from store.queries import has_data
    from store.results import declare_received

    if not args.name:
        print("error: --name: say what was imported (kept with the declaration)", file=sys.stderr)
        return 2
    try:
        start, end = parse_time(args.start, tz, now), parse_time(args.end, tz, now)
    except PeriodError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if end <= start:
        print("error: --to must be after --from", file=sys.stderr)
        return 2
    if end > now + 1:
        print("error: --to is in the future: only time that has passed can have been received", file=sys.stderr)
        return 2
    if not args.allow_empty and not has_data(conn, start, end):
        print(f"error: nothing is stored from {_when(start, tz)} to {_when(end, tz)}: import the data first "
              "(publish it through the broker), or pass --allow-empty (a replay about to be published, a "
              "stretch that really was quiet)", file=sys.stderr)
        return 2
    declare_received(conn, args.name, [(start, end)])
    print(f"received: {_when(start, tz)} to {_when(end, tz)} ({(end - start) / 3600:.2f} h, import {args.name!r}); "
          "results stored for that time will be recomputed")
    return 0


def unreceived(conn: psycopg.Connection, start: float, end: float, tz: str) -> str | None:
    """What to tell whoever judges [start, end) (a replayed period) when not all of it was
    received — by an ingest worker or a declared import — since the rest raises nothing; None
    when all of it was."""
    from store.queries import read_observed

    seen = sum(min(b, end) - max(a, start) for a, b in read_observed(conn, start, end))
    conn.rollback()
    if seen >= end - start - 1:
        return None
    return (f"{seen / (end - start):.0%} of {_when(start, tz)} to {_when(end, tz)} was received (by an ingest worker "
            "or a declared import): the rest is unknown to every rule and raises nothing. If its data was imported, "
            f"declare it first: pingan import --from {_iso(start, tz)} --to {_iso(end, tz)} --name NAME")


def _iso(t: float, tz: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(tz)).isoformat(timespec="seconds")


def _list(conn: psycopg.Connection, tz: ZoneInfo) -> int:
    rows = conn.execute("SELECT worker_id, source, since, until FROM pingan.ingest_uptime "
                        "WHERE source <> 'worker' ORDER BY since").fetchall()
    if not rows:
        print("no imports declared")
    for name, source, since, until in rows:
        print(f"{since.astimezone(tz):%Y-%m-%d %H:%M:%S} to {until.astimezone(tz):%Y-%m-%d %H:%M:%S}  {source:<7} "
              f"{name.split(':', 1)[-1]}")
    return 0


def _when(t: float, tz: str) -> str:
    return datetime.fromtimestamp(t, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
