"""Stored results: camera uptime per hour (and per day), the daily coverage of every cell, the
late-data marks that make stored results stale, and the ingest's own uptime."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import psycopg

HOUR_S = 3600.0


# -- late data ---------------------------------------------------------------------------------
def mark_late(conn: psycopg.Connection, start: float, end: float) -> None:
    """Results covering [start, end) (and the hours either side) are stale: data for that time
    changed after it ended."""
    conn.execute(
        "INSERT INTO pingan.late_hour (hour, changed_at) "
        "SELECT h, now() FROM generate_series(date_trunc('hour', to_timestamp(%s)) - interval '1 hour', "
        "date_trunc('hour', to_timestamp(%s)) + interval '1 hour', interval '1 hour') h "
        "ON CONFLICT (hour) DO UPDATE SET changed_at = EXCLUDED.changed_at", (start, end))


# -- the ingest's own uptime -------------------------------------------------------------------
def last_until(conn: psycopg.Connection, worker_id: str) -> float | None:
    row = conn.execute("SELECT date_part('epoch', max(until)) FROM pingan.ingest_uptime WHERE worker_id = %s",
                       (worker_id,)).fetchone()
    return row[0]


def record_uptime(conn: psycopg.Connection, worker_id: str, since: float, until: float, *, source: str = "worker",
                  bridged: bool = False, messages: int = 0) -> None:
    """Upsert one run of a worker (or a replay's or import's period): received from `since` to `until`."""
    conn.execute(
        "INSERT INTO pingan.ingest_uptime (worker_id, since, until, source, bridged, messages) "
        "VALUES (%s, to_timestamp(%s), to_timestamp(%s), %s, %s, %s) ON CONFLICT (worker_id, since) DO UPDATE "
        "SET until = greatest(pingan.ingest_uptime.until, EXCLUDED.until), messages = EXCLUDED.messages",
        (worker_id, since, until, source, bridged, messages))


def declare_received(conn: psycopg.Connection, name: str, spans: Iterable[tuple[float, float]], *,
                     source: str = "import") -> None:
    """An import of past data (a device's backlog, another system's history, a replayed scenario)
    declares the stretches it brought in as received: the assessment and the live rules then judge
    them instead of calling them unknown. Results already stored for that time are made stale."""
    for since, until in spans:
        record_uptime(conn, f"{source}:{name}", since, until, source=source)
        mark_late(conn, since, until)


# -- camera uptime per hour and per day -----------------------------------------------------------
@dataclass(frozen=True)
class HourRows:
    camera: np.ndarray  # index into the camera ids asked for
    bucket: np.ndarray  # epoch seconds of the hour
    up: np.ndarray
    down: np.ndarray
    unknown: np.ndarray
    outages: np.ndarray


def fresh_hours(conn: psycopg.Connection, camera_ids: Sequence[str], heartbeat_s: Sequence[float], missed: float,
                start: float, end: float) -> HourRows:
    """Stored hourly rows of these cameras in [start, end) that are still valid: computed with
    the same heartbeat standard and after the last late data for their hour."""
    rows = conn.execute(
        "SELECT k.n - 1, date_part('epoch', h.bucket), h.up_s, h.down_s, h.unknown_s, h.outages "
        "FROM unnest(%s::text[], %s::real[]) WITH ORDINALITY AS k(camera_id, hb, n) "
        "JOIN pingan.camera_uptime_hourly h ON h.camera_id = k.camera_id AND h.heartbeat_s = k.hb "
        "LEFT JOIN pingan.late_hour l ON l.hour = h.bucket "
        "WHERE h.bucket >= to_timestamp(%s) AND h.bucket < to_timestamp(%s) AND h.missed = %s::real "
        "AND (l.changed_at IS NULL OR l.changed_at < h.computed_at)",
        (list(camera_ids), [float(h) for h in heartbeat_s], start, end, missed)).fetchall()
    conn.commit()
    a = np.array(rows, dtype=float).reshape(-1, 6)
    return HourRows(a[:, 0].astype(np.int64), a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5].astype(np.int64))


def write_hours(conn: psycopg.Connection, camera_ids: Sequence[str], heartbeat_s: Sequence[float], missed: float,
                rows: HourRows, timezone: str, timescale: bool) -> None:
    """Upsert hourly rows computed at this moment; keep the daily table (plain PostgreSQL) in step."""
    if not len(rows.camera):
        return
    ids = np.asarray(camera_ids, dtype=object)[rows.camera]
    hb = np.asarray(heartbeat_s, dtype=float)[rows.camera]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage_uptime (camera_id text, bucket float8, up_s real, "
                    "down_s real, unknown_s real, outages int4, heartbeat_s real) ON COMMIT DELETE ROWS")
        with cur.copy("COPY stage_uptime FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "float8", "float4", "float4", "float4", "int4", "float4"])
            for row in zip(ids.tolist(), rows.bucket.tolist(), rows.up.tolist(), rows.down.tolist(),
                           rows.unknown.tolist(), rows.outages.tolist(), hb.tolist(), strict=True):
                copy.write_row(row)
        cur.execute(
            "INSERT INTO pingan.camera_uptime_hourly (camera_id, bucket, up_s, down_s, unknown_s, outages, heartbeat_s, "
            "missed, computed_at) SELECT camera_id, to_timestamp(bucket), up_s, down_s, unknown_s, outages, heartbeat_s, "
            "%s, now() FROM stage_uptime ON CONFLICT (camera_id, bucket) DO UPDATE SET up_s = EXCLUDED.up_s, "
            "down_s = EXCLUDED.down_s, unknown_s = EXCLUDED.unknown_s, outages = EXCLUDED.outages, "
            "heartbeat_s = EXCLUDED.heartbeat_s, missed = EXCLUDED.missed, computed_at = EXCLUDED.computed_at",
            (missed,))
        if not timescale:
            cur.execute(
                "INSERT INTO pingan.camera_uptime_daily (camera_id, day, up_s, down_s, unknown_s, outages, hours, "
                "heartbeat_min, heartbeat_max, missed_min, missed_max, computed_min) "
                "SELECT h.camera_id, d.day, sum(h.up_s), sum(h.down_s), sum(h.unknown_s), sum(h.outages), count(*), "
                "min(h.heartbeat_s), max(h.heartbeat_s), min(h.missed), max(h.missed), min(h.computed_at) "
                "FROM (SELECT DISTINCT camera_id, (date_trunc('day', to_timestamp(bucket) AT TIME ZONE %(tz)s) "
                "AT TIME ZONE %(tz)s) AS day FROM stage_uptime) d JOIN pingan.camera_uptime_hourly h "
                "ON h.camera_id = d.camera_id AND h.bucket >= d.day AND h.bucket < d.day + interval '1 day' "
                "GROUP BY h.camera_id, d.day ON CONFLICT (camera_id, day) DO UPDATE SET up_s = EXCLUDED.up_s, "
                "down_s = EXCLUDED.down_s, unknown_s = EXCLUDED.unknown_s, outages = EXCLUDED.outages, "
                "hours = EXCLUDED.hours, heartbeat_min = EXCLUDED.heartbeat_min, "
                "heartbeat_max = EXCLUDED.heartbeat_max, missed_min = EXCLUDED.missed_min, "
                "missed_max = EXCLUDED.missed_max, computed_min = EXCLUDED.computed_min", {"tz": timezone})
    conn.commit()


@dataclass(frozen=True)
class DayTotals:
    """Per camera: seconds summed over the stored days that are still valid, and the days that
    are not (missing, stale, or computed with another standard) — those must come from hours."""

    up: np.ndarray
    down: np.ndarray
    unknown: np.ndarray
    outages: np.ndarray
    redo: list[list[float]]  # per camera: the starts of days to take from hours instead


_FRESH_DAYS = (
    "WITH k AS (SELECT camera_id, hb, n - 1 AS i FROM unnest(%(ids)s::text[], %(hb)s::real[]) "
    "WITH ORDINALITY AS k(camera_id, hb, n)), "
    "late AS (SELECT (date_trunc('day', hour AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s) AS day, "
    "max(changed_at) AS changed FROM pingan.late_hour WHERE hour >= to_timestamp(%(a)s) "
    "AND hour < to_timestamp(%(b)s) GROUP BY 1) "
    "SELECT {what} FROM pingan.camera_uptime_daily d JOIN k USING (camera_id) LEFT JOIN late ON late.day = d.day "
    "WHERE d.day >= to_timestamp(%(a)s) AND d.day < to_timestamp(%(b)s) "
    "AND d.hours * 3600 = date_part('epoch', ((d.day AT TIME ZONE %(tz)s) + interval '1 day') AT TIME ZONE %(tz)s "
    "- d.day) AND d.heartbeat_min = k.hb AND d.heartbeat_max = k.hb AND d.missed_min = %(m)s::real "
    "AND d.missed_max = %(m)s::real AND (late.changed IS NULL OR late.changed < d.computed_min) {group}")


def fresh_days(conn: psycopg.Connection, camera_ids: Sequence[str], heartbeat_s: Sequence[float], missed: float,
               days: Sequence[tuple[float, float]], timezone: str) -> DayTotals:
    """Sum the daily uptime rows of consecutive whole days ([the city's midnight, the next) in
    `days`) in SQL; a day counts when all its hours are stored, with this standard, after every
    late change in it."""
    n = len(camera_ids)
    up, down, unk, out = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    good: list[set[float]] = [set() for _ in range(n)]
    if days:
        args = {"ids": list(camera_ids), "hb": [float(h) for h in heartbeat_s], "a": days[0][0], "b": days[-1][1],
                "m": missed, "tz": timezone}
        rows = conn.execute(_FRESH_DAYS.format(
            what="k.i, sum(d.up_s), sum(d.down_s), sum(d.unknown_s), sum(d.outages), count(*)", group="GROUP BY k.i"),
            args).fetchall()
        short = []
        for i, u, d, k, o, count in rows:
            up[i], down[i], unk[i], out[i] = u, d, k, o
            if count == len(days):
                good[i] = {a for a, _ in days}
            else:
                short.append(i)
        if short:  # which of their days were good: the rest come from hours
            args.update(ids=[camera_ids[i] for i in short], hb=[float(heartbeat_s[i]) for i in short])
            for j, day in conn.execute(_FRESH_DAYS.format(what="k.i, date_part('epoch', d.day)", group=""), args):
                good[short[j]].add(day)
        conn.commit()
    redo = [[a for a, _ in days if a not in good[i]] for i in range(n)]
    return DayTotals(up, down, unk, out, redo)


def refresh_daily(conn: psycopg.Connection, start: float, end: float) -> None:
    """TimescaleDB: materialise the daily aggregate over recomputed hours now (its policy
    covers only the recent past). Needs a connection outside a transaction."""
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute("CALL refresh_continuous_aggregate('pingan.camera_uptime_daily', "
                     "to_timestamp(%s) - interval '1 day', to_timestamp(%s) + interval '1 day')", (start, end))
    finally:
        conn.autocommit = False


# -- daily coverage --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredDay:
    day: Any  # datetime.date
    part_from: float
    part_to: float
    version: int
    cells: int


def stored_days(conn: psycopg.Connection, start: float, end: float, standard: str) -> list[StoredDay]:
    """Stored daily parts in [start, end) computed with this standard and after every late
    change of data in them."""
    rows = conn.execute(
        "SELECT d.day, date_part('epoch', d.part_from), date_part('epoch', d.part_to), min(d.version), count(*) "
        "FROM pingan.coverage_daily d WHERE d.part_from >= to_timestamp(%s) AND d.part_to <= to_timestamp(%s) "
        "AND d.standard = %s GROUP BY d.day, d.part_from, d.part_to "
        "HAVING count(DISTINCT d.version) = 1 AND NOT EXISTS (SELECT 1 FROM pingan.late_hour l "
        "WHERE l.hour >= d.part_from AND l.hour < d.part_to AND l.changed_at >= min(d.computed_at))",
        (start, end, standard)).fetchall()
    conn.commit()
    return [StoredDay(*r) for r in rows]


def write_day(conn: psycopg.Connection, day, part_from: float, part_to: float, version: int, standard: str,
              cells: Iterable[dict[str, Any]]) -> None:
    """Replace the stored result of one day (part) with these cells."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM pingan.coverage_daily WHERE day = %s AND part_from = to_timestamp(%s)",
                    (day, part_from))
        cur.executemany(
            "INSERT INTO pingan.coverage_daily (day, part_from, part_to, cell_id, version, status, patrol, cameras, "
            "checkpoints, visits, longest_gap_s, gap_from, gap_to, detail, standard) VALUES (%s, to_timestamp(%s), "
            "to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s)",
            [(day, part_from, part_to, c["cell_id"], version, c["status"], c["patrol"], c["cameras"], c["checkpoints"],
              c["visits"], c["longest_gap_s"], c["gap_from"], c["gap_to"], json.dumps(c["detail"]), standard)
             for c in cells])
    conn.commit()


def day_shares(conn: psycopg.Connection, start: float, end: float, standard: str, days: Sequence[Any]
               ) -> dict[int, dict[str, tuple[float, float, float]]]:
    """For the given stored days: version → cell → seconds (covered, unknown, not covered)."""
    rows = conn.execute(
        "SELECT version, cell_id, "
        "sum(date_part('epoch', part_to - part_from)) FILTER (WHERE status = 'covered'), "
        "sum(date_part('epoch', part_to - part_from)) FILTER (WHERE status = 'unknown'), "
        "sum(date_part('epoch', part_to - part_from)) FILTER (WHERE status = 'not_covered') "
        "FROM pingan.coverage_daily WHERE day = ANY(%s) AND part_from >= to_timestamp(%s) "
        "AND part_to <= to_timestamp(%s) AND standard = %s GROUP BY version, cell_id",
        (list(days), start, end, standard)).fetchall()
    conn.commit()
    out: dict[int, dict[str, tuple[float, float, float]]] = {}
    for version, cell, c, u, n in rows:
        out.setdefault(version, {})[cell] = (c or 0.0, u or 0.0, n or 0.0)
    return out
