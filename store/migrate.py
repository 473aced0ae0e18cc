"""Versioned, idempotent migrations.

Files are ``NNN_name.sql`` (run everywhere) or ``NNN_name.timescale.sql`` / ``NNN_name.plain.sql``
(one of the pair, by whether TimescaleDB is used). Each applied version is recorded in
``pingan.schema_migration``; an advisory lock lets many workers start at once. The token
``:city_timezone`` in a file is replaced by the city's time zone (a quoted literal): daily
aggregates are bucketed by the city's days.

TimescaleDB loads only through ``shared_preload_libraries``: on a server where it is installed
but not preloaded, ``CREATE EXTENSION`` is a FATAL error that closes the connection. So the
preload is checked first; ``database.timescaledb`` decides what happens without it: ``auto``
falls back to plain PostgreSQL with a warning, ``require`` refuses with the fix, ``off`` never
uses it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+?)(?:\.(timescale|plain))?\.sql$")
_LOCK = 0x70696E67  # "ping"

COMPRESSED = ("patrol_ping", "camera_health", "checkin", "camera_uptime_hourly")
RETAINED = ("patrol_ping", "camera_health", "camera_snapshot", "device_status", "checkin", "dead_letter",
            "camera_uptime_hourly")
TIME_VARIANT = 2  # the migration whose variant decides, once and for all, whether a database uses TimescaleDB


class MigrationError(RuntimeError):
    """The database cannot be migrated as configured; the message says how to fix it."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    variant: str | None  # None | "timescale" | "plain"
    sql: str


@dataclass
class MigrationReport:
    timescale: bool
    applied: list[str] = field(default_factory=list)
    already: int = 0


def available_migrations() -> list[Migration]:
    out = []
    for entry in resources.files("store").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append(Migration(int(m[1]), m[2], m[3], entry.read_text(encoding="utf-8")))
    return sorted(out, key=lambda m: (m.version, m.variant or ""))


def timescale_available(conn: psycopg.Connection, mode: str = "auto") -> bool:
    """Whether this database uses TimescaleDB: installed here already, or installed on the
    server, preloaded, and creatable by this role (creating it is kept). mode: auto | require | off."""
    if mode == "off":
        return False
    # The preloaded library defines its settings (reading shared_preload_libraries itself needs
    # a superuser); a mere placeholder of the same name would be a string.
    installed, available, preloaded = conn.execute(
        "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'),"
        "       (SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'),"
        "       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers' "
        "               AND vartype = 'integer')").fetchone()
    if installed and preloaded:
        return True
    if not available:
        return _without(mode, "the TimescaleDB extension is not installed on this server")
    if not preloaded:
        return _without(mode, "TimescaleDB is installed but not preloaded: add shared_preload_libraries = "
                              "'timescaledb' to postgresql.conf and restart PostgreSQL")
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return True
    except psycopg.Error as e:
        return _without(mode, f"TimescaleDB cannot be created here ({str(e).strip().splitlines()[0]}); "
                              "a superuser can run CREATE EXTENSION timescaledb in this database")


def uses_timescale(conn: psycopg.Connection) -> bool:
    """Whether this database was migrated with the TimescaleDB variants (raises UndefinedTable
    where it was never migrated)."""
    found = conn.execute("SELECT count(*) FROM pingan.schema_migration WHERE variant = 'timescale'").fetchone()[0]
    conn.commit()
    return bool(found)


def _without(mode: str, why: str) -> bool:
    if mode == "require":
        raise MigrationError(f"{why} (database.timescaledb = require)")
    log.warning("%s; using plain PostgreSQL (set database.timescaledb = require to refuse instead)", why)
    return False


def migrate(conn: psycopg.Connection, *, compress_after_days: int = 7, retain_days: int = 400,
            timescaledb: str = "auto", timezone: str = "Asia/Shanghai") -> MigrationReport:
    """Apply every pending migration; then (re)apply the TimescaleDB policies from settings."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS pingan")
        conn.execute("""CREATE TABLE IF NOT EXISTS pingan.schema_migration (
                            version integer PRIMARY KEY, name text NOT NULL, variant text,
                            applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {v: var for v, var in conn.execute("SELECT version, variant FROM pingan.schema_migration")}
        if TIME_VARIANT in done:
            ts = done[TIME_VARIANT] == "timescale"
        else:
            ts = timescale_available(conn, timescaledb)
        report = MigrationReport(timescale=ts)
        for m in available_migrations():
            if m.variant is not None and m.variant != ("timescale" if ts else "plain"):
                continue
            if m.version in done:
                report.already += 1
                continue
            with conn.transaction():
                conn.execute(m.sql.replace(":city_timezone", _literal(timezone)))
                conn.execute("INSERT INTO pingan.schema_migration (version, name, variant) VALUES (%s, %s, %s)",
                             (m.version, m.name, m.variant))
            log.info("applied migration %03d_%s%s", m.version, m.name, f" ({m.variant})" if m.variant else "")
            report.applied.append(f"{m.version:03d}_{m.name}")
        if ts:
            apply_policies(conn, compress_after_days, retain_days)
        return report
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_policies(conn: psycopg.Connection, compress_after_days: int, retain_days: int) -> None:
    """Compression and retention ages come from settings, so they are re-applied on every migrate."""
    for table in COMPRESSED:
        conn.execute("SELECT remove_compression_policy(%s, if_exists => true)", (f"pingan.{table}",))
        conn.execute("SELECT add_compression_policy(%s, make_interval(days => %s))",
                     (f"pingan.{table}", compress_after_days))
    for table in RETAINED:
        conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (f"pingan.{table}",))
        conn.execute("SELECT add_retention_policy(%s, make_interval(days => %s))",
                     (f"pingan.{table}", retain_days))
