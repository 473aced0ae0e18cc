"""Versioned, idempotent migrations.

Files are ``NNN_name.sql`` (run everywhere) or ``NNN_name.timescale.sql`` / ``NNN_name.plain.sql``
(one of the pair, by whether the TimescaleDB extension can be created). Each applied version
is recorded in ``pingan.schema_migration``; an advisory lock lets many workers start at once.
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

COMPRESSED = ("patrol_ping", "camera_health", "checkin")
RETAINED = ("patrol_ping", "camera_health", "camera_snapshot", "device_status", "checkin", "dead_letter")


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


def timescale_available(conn: psycopg.Connection) -> bool:
    """True when TimescaleDB is installed, or can be created here (available, preloaded, and
    this role may create it). Creating it is kept: a session cannot load it twice."""
    installed, available = conn.execute(
        "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'),"
        "       (SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb')").fetchone()
    if installed:
        return True
    if not available:
        return False
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return True
    except psycopg.Error as e:
        log.warning("TimescaleDB is available but cannot be created (%s); using plain PostgreSQL",
                    str(e).strip().splitlines()[0])
        return False


def migrate(conn: psycopg.Connection, *, compress_after_days: int = 7, retain_days: int = 400) -> MigrationReport:
    """Apply every pending migration; then (re)apply the TimescaleDB policies from settings."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
    try:
        conn.execute("CREATE SCHEMA IF NOT EXISTS pingan")
        conn.execute("""CREATE TABLE IF NOT EXISTS pingan.schema_migration (
                            version integer PRIMARY KEY, name text NOT NULL, variant text,
                            applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {v: var for v, var in conn.execute("SELECT version, variant FROM pingan.schema_migration")}
        if 2 in done:
            ts = done[2] == "timescale"
        else:
            ts = timescale_available(conn)
        report = MigrationReport(timescale=ts)
        for m in available_migrations():
            if m.variant is not None and m.variant != ("timescale" if ts else "plain"):
                continue
            if m.version in done:
                report.already += 1
                continue
            with conn.transaction():
                conn.execute(m.sql)
                conn.execute("INSERT INTO pingan.schema_migration (version, name, variant) VALUES (%s, %s, %s)",
                             (m.version, m.name, m.variant))
            log.info("applied migration %03d_%s%s", m.version, m.name, f" ({m.variant})" if m.variant else "")
            report.applied.append(f"{m.version:03d}_{m.name}")
        if ts:
            apply_policies(conn, compress_after_days, retain_days)
        return report
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))


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
