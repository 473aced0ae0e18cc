"""Batched, idempotent writes: binary COPY into a per-connection staging table, then one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` into the real table, all in one transaction.

A batch that is written twice (a retry after a lost commit acknowledgement, a redelivery after
a worker crash) leaves the same rows as one write.

Rows for an hour that has already ended (buffered batches, replays, late heartbeats) mark that
hour in ``pingan.late_hour`` in the same transaction, so results stored for it are computed
again when next read.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import psycopg
from psycopg import sql

from .records import (
    CameraHealth,
    CameraSnapshot,
    Checkin,
    DeadLetter,
    DeviceStatus,
    PatrolFix,
    Registration,
    Transition,
)


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[tuple[str, str], ...]  # (name, staging type); epoch columns are float8 → timestamptz
    epoch: frozenset[str] = frozenset({"ts"})
    where: str = ""  # extra filter on the staged rows
    assessed: bool = False  # results are computed from it: late rows mark their hours stale
    stage_only: frozenset[str] = frozenset()  # staged to decide, not stored
    returning: str = ""  # a column to return from the inserted rows

    @property
    def stage(self) -> str:
        return f"stage_{self.table}"

    def create_stage(self) -> sql.Composed:
        cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in self.columns)
        return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
            sql.Identifier(self.stage), cols)

    def copy(self) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(self.stage), sql.SQL(", ").join(sql.Identifier(n) for n, _ in self.columns))

    def insert(self) -> sql.Composed:
        names = [n for n, _ in self.columns if n not in self.stage_only]
        select = [sql.SQL("to_timestamp(s.{})").format(sql.Identifier(n)) if n in self.epoch
                  else sql.SQL("s.{}").format(sql.Identifier(n)) for n in names]
        returning = sql.SQL(f" RETURNING {self.returning}") if self.returning else sql.SQL("")
        return sql.SQL("INSERT INTO pingan.{} ({}) SELECT {} FROM {} s {} ON CONFLICT DO NOTHING{}").format(
            sql.Identifier(self.table), sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(select), sql.Identifier(self.stage), sql.SQL(self.where), returning)

    @property
    def types(self) -> list[str]:
        return [t for _, t in self.columns]

    def mark_late(self) -> sql.Composed:
        """Mark the hours (and those either side) of staged rows whose hour has already ended."""
        return sql.SQL(
            "INSERT INTO pingan.late_hour (hour, changed_at) SELECT DISTINCT date_trunc('hour', to_timestamp(s.ts)) "
            "+ k.h * interval '1 hour', now() FROM {} s CROSS JOIN (VALUES (-1), (0), (1)) k(h) "
            "WHERE s.ts < date_part('epoch', date_trunc('hour', now())) "
            "ON CONFLICT (hour) DO UPDATE SET changed_at = EXCLUDED.changed_at").format(sql.Identifier(self.stage))


PATROL_PING = TableSpec("patrol_ping", (
    ("ts", "float8"), ("unit_id", "text"), ("lat", "float8"), ("lon", "float8"), ("acc", "float4"),
    ("spd", "float4"), ("hdg", "float4"), ("batt", "float4"), ("officers", "text[]"), ("seq", "int8"),
    ("source", "text"), ("cell_id", "text"), ("received_at", "float8")), frozenset({"ts", "received_at"}),
    assessed=True)
CAMERA_HEALTH = TableSpec("camera_health", (
    ("ts", "float8"), ("camera_id", "text"), ("online", "bool"), ("fps", "float4"), ("bitrate_kbps", "float4"),
    ("recording", "bool"), ("storage_ok", "bool"), ("packet_loss", "float4"), ("temp_c", "float4"),
    ("uptime_s", "float8"), ("process_fps", "float4"), ("skipped_fps", "float4"), ("detection_fps", "float4"),
    ("source", "text"), ("received_at", "float8")), frozenset({"ts", "received_at"}), assessed=True)
CAMERA_SNAPSHOT = TableSpec("camera_snapshot", (
    ("ts", "float8"), ("camera_id", "text"), ("size_bytes", "int4"), ("sha256", "text"), ("image", "bytea"),
    ("path", "text"), ("received_at", "float8")), frozenset({"ts", "received_at"}))
DEVICE_STATUS = TableSpec("device_status", (
    ("ts", "float8"), ("kind", "text"), ("device_id", "text"), ("online", "bool"), ("source", "text")),
    # changes only: a repeated or retained status is not a new event; a camera's last known state
    # is its last status or heartbeat, whichever is later
    where="WHERE s.online IS DISTINCT FROM (SELECT x.online FROM ("
          "(SELECT o.ts, o.online FROM pingan.device_status o WHERE o.kind = s.kind AND o.device_id = s.device_id "
          "AND o.ts <= to_timestamp(s.ts) ORDER BY o.ts DESC LIMIT 1) UNION ALL "
          "(SELECT h.ts, h.online FROM pingan.camera_health h WHERE s.kind = 'camera' AND h.camera_id = s.device_id "
          "AND h.ts <= to_timestamp(s.ts) ORDER BY h.ts DESC LIMIT 1)) x ORDER BY x.ts DESC LIMIT 1)", assessed=True)
CHECKIN = TableSpec("checkin", (
    ("ts", "float8"), ("checkpoint_id", "text"), ("officer", "text"), ("action", "text"), ("method", "text"),
    ("received_at", "float8")), frozenset({"ts", "received_at"}), assessed=True)
TRANSITION = TableSpec("transition", (
    ("ts", "float8"), ("unit_id", "text"), ("region", "text"), ("event", "text"), ("lat", "float8"), ("lon", "float8"),
    ("acc", "float4"), ("source", "text"), ("received_at", "float8")), frozenset({"ts", "received_at"}))
DEAD_LETTER = TableSpec("dead_letter", (
    ("received_at", "float8"), ("topic", "text"), ("reason", "text"), ("detail", "text"), ("device_id", "text"),
    ("payload", "bytea"), ("payload_size", "int4"), ("digest", "text"), ("redelivered", "bool")),
    frozenset({"received_at"}),
    # a message the broker sent again, already dead-lettered once, is not a second reject
    where="WHERE NOT (s.redelivered AND EXISTS (SELECT 1 FROM pingan.dead_letter d WHERE d.digest = s.digest "
          "AND d.received_at > to_timestamp(s.received_at) - interval '1 day'))",
    stage_only=frozenset({"redelivered"}), returning="reason")

ALL_TABLES = (PATROL_PING, CAMERA_HEALTH, CAMERA_SNAPSHOT, DEVICE_STATUS, CHECKIN, TRANSITION, DEAD_LETTER)


@dataclass
class Batch:
    """Everything one flush writes, in one transaction. Rows keep their arrival order."""

    fixes: list[tuple[PatrolFix, float]] = field(default_factory=list)  # (fix, received)
    health: list[tuple[CameraHealth, float]] = field(default_factory=list)
    snapshots: list[tuple[CameraSnapshot, float]] = field(default_factory=list)
    statuses: list[DeviceStatus] = field(default_factory=list)
    checkins: list[tuple[Checkin, float]] = field(default_factory=list)
    transitions: list[tuple[Transition, float]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.fixes) + len(self.health) + len(self.snapshots) + len(self.statuses)
                + len(self.checkins) + len(self.transitions) + len(self.dead))


@dataclass(frozen=True)
class WriteResult:
    inserted: dict[str, int]  # table → new rows (duplicates excluded)
    rejected: Counter = field(default_factory=Counter)  # reason → dead letters stored


def _add_counts(cur: psycopg.Cursor, worker_id: str, counts: dict[str, int]) -> None:
    if counts:
        cur.executemany("INSERT INTO pingan.ingest_counter (worker_id, name, value) VALUES (%s, %s, %s) "
                        "ON CONFLICT (worker_id, name) DO UPDATE SET value = pingan.ingest_counter.value "
                        "+ EXCLUDED.value", [(worker_id, k, v) for k, v in counts.items()])


def counter_names(received: int, inserted: dict[str, int], rejected: Counter) -> dict[str, int]:
    """The counters' names, as in the database and in Redis (pingan:counters)."""
    counts = {"received": received, **{f"stored:{t}": n for t, n in inserted.items()},
              **{f"rejected:{r}": n for r, n in rejected.items()}}
    return {k: v for k, v in counts.items() if v}


class BatchWriter:
    """Writes a Batch on one connection; the caller owns retries and reconnects."""

    def __init__(self, conn: psycopg.Connection, snapshot_dir: Path | None = None):
        self.conn = conn
        self.snapshot_dir = snapshot_dir
        conn.autocommit = False
        with conn.transaction():
            for spec in ALL_TABLES:
                conn.execute(spec.create_stage())

    def write(self, batch: Batch, counter: str | None = None, received: int = 0) -> WriteResult:
        """Write the batch in one transaction; with `counter` (the worker's id), add what it
        stored, rejected and received to the worker's running counts in the same transaction."""
        inserted: dict[str, int] = {}
        rejected: Counter = Counter()
        with self.conn.transaction():
            with self.conn.cursor() as cur:
                if batch.registrations:
                    _register(cur, batch.registrations)
                for spec, rows in self._rows(batch):
                    if not rows:
                        continue
                    with cur.copy(spec.copy()) as copy:
                        copy.set_types(spec.types)
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(spec.insert())
                    inserted[spec.table] = cur.rowcount
                    if spec.returning:
                        rejected.update(r[0] for r in cur.fetchall())
                    if spec.assessed and cur.rowcount:
                        cur.execute(spec.mark_late())
                if counter is not None:
                    _add_counts(cur, counter, counter_names(received, inserted, rejected))
        return WriteResult(inserted, rejected)

    def add_counts(self, worker_id: str, counts: dict[str, int]) -> None:
        """Add to a worker's running counts (for a batch written in parts)."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            _add_counts(cur, worker_id, counts)

    def _rows(self, b: Batch) -> Iterable[tuple[TableSpec, Sequence[tuple]]]:
        yield PATROL_PING, [(f.ts, f.unit_id, f.lat, f.lon, f.acc, f.spd, f.hdg, f.batt, list(f.officers), f.seq,
                             f.source, f.cell_id, r) for f, r in b.fixes]
        yield CAMERA_HEALTH, [(h.ts, h.camera_id, h.online, h.fps, h.bitrate_kbps, h.recording, h.storage_ok,
                               h.packet_loss, h.temp_c, h.uptime_s, h.process_fps, h.skipped_fps, h.detection_fps,
                               h.source, r) for h, r in b.health]
        yield CAMERA_SNAPSHOT, [self._snapshot_row(s, r) for s, r in b.snapshots]
        yield DEVICE_STATUS, [(s.ts, s.kind, s.device_id, s.online, s.source) for s in b.statuses]
        yield CHECKIN, [(c.ts, c.checkpoint_id, c.officer, c.action, c.method, r) for c, r in b.checkins]
        yield TRANSITION, [(t.ts, t.unit_id, t.region, t.event, t.lat, t.lon, t.acc, t.source, r)
                           for t, r in b.transitions]
        yield DEAD_LETTER, [(d.received, d.topic, str(d.reason), d.detail, d.device, d.payload, d.payload_size,
                             d.digest, d.redelivered) for d in b.dead]

    def _snapshot_row(self, s: CameraSnapshot, received: float) -> tuple:
        if self.snapshot_dir is None:
            return (s.ts, s.camera_id, s.size, s.sha256, s.image, None, received)
        path = self.snapshot_dir / s.camera_id / f"{s.sha256}.jpg"
        if not path.exists():  # content-addressed: a replay writes nothing new
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(s.image)
            os.replace(tmp, path)
        return (s.ts, s.camera_id, s.size, s.sha256, None, str(path), received)


_REGISTER = {
    "unit": "INSERT INTO pingan.unit (unit_id, owntracks, auto_registered) VALUES (%s, %s, true) "
            "ON CONFLICT DO NOTHING",
    "camera": "INSERT INTO pingan.camera (camera_id, frigate_name, auto_registered) VALUES (%s, %s, true) "
              "ON CONFLICT DO NOTHING",
    "checkpoint": "INSERT INTO pingan.checkpoint (checkpoint_id, name, auto_registered) VALUES (%s, %s, true) "
                  "ON CONFLICT DO NOTHING",
}


def _register(cur: psycopg.Cursor, regs: Sequence[Registration]) -> None:
    for r in regs:
        alias = r.alias if r.kind != "checkpoint" else r.device_id
        cur.execute(_REGISTER[r.kind], (r.device_id, alias))
