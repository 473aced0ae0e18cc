"""What the assessment needs from the store, read in bulk for a period.

Fixes and camera events come through binary COPY straight into arrays (``store.binary``):
17 million fixes are a few hundred MB of numbers, never 17 million Python objects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import psycopg

from geofence.spans import merge

from .binary import copy_arrays
from .records import CameraHealth, CameraSnapshot, Checkin, DeviceStatus, FeedBatch, PatrolFix

_UNITS = "SELECT unit_id, (row_number() OVER (ORDER BY unit_id) - 1)::int4 AS i FROM pingan.unit"


@dataclass(frozen=True)
class Fixes:
    """Every unit's fixes in a period, sorted by (unit, ts); `unit` indexes `unit_ids`.
    Each unit's last fix before the period and first fix after it are included, so that a
    silence running over an edge of the period is seen whole."""

    unit_ids: list[str]
    unit: np.ndarray  # int32
    ts: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def per_unit(self):
        """(unit index, slice) for each unit with fixes."""
        bounds = np.searchsorted(self.unit, np.arange(len(self.unit_ids) + 1))
        for i in range(len(self.unit_ids)):
            if bounds[i + 1] > bounds[i]:
                yield i, slice(bounds[i], bounds[i + 1])


def read_fixes(conn: psycopg.Connection, start: float, end: float) -> Fixes:
    units = [r[0] for r in conn.execute("SELECT unit_id FROM pingan.unit ORDER BY unit_id")]
    cols = [("unit", "int4"), ("ts", "timestamptz"), ("lon", "float8"), ("lat", "float8")]
    params = {"start": start, "end": end}
    inside = copy_arrays(conn, f"""
        SELECT u.i, p.ts, p.lon, p.lat FROM pingan.patrol_ping p JOIN ({_UNITS}) u USING (unit_id)
        WHERE p.ts >= to_timestamp(%(start)s) AND p.ts < to_timestamp(%(end)s)""", params, cols)
    edges = copy_arrays(conn, f"""
        SELECT u.i, b.ts, b.lon, b.lat FROM ({_UNITS}) u CROSS JOIN LATERAL (
            SELECT ts, lon, lat FROM pingan.patrol_ping p WHERE p.unit_id = u.unit_id
            AND p.ts < to_timestamp(%(start)s) ORDER BY p.ts DESC LIMIT 1) b
        UNION ALL
        SELECT u.i, a.ts, a.lon, a.lat FROM ({_UNITS}) u CROSS JOIN LATERAL (
            SELECT ts, lon, lat FROM pingan.patrol_ping p WHERE p.unit_id = u.unit_id
            AND p.ts >= to_timestamp(%(end)s) ORDER BY p.ts LIMIT 1) a""", params, cols)
    conn.commit()
    arrays = {k: np.concatenate([inside[k], edges[k]]) for k in inside}
    order = np.lexsort((arrays["ts"], arrays["unit"]))
    return Fixes(units, *(arrays[k][order] for k in ("unit", "ts", "lon", "lat")))


def officers_at(conn: psycopg.Connection, unit_ids: Sequence[str], ts: Sequence[float]) -> list[tuple[str, ...]]:
    """The officers aboard each of the given fixes (unit, time), looked up by the table's key."""
    if not len(ts):
        return []
    rows = conn.execute(
        "SELECT k.n, p.officers FROM unnest(%s::text[], %s::float8[]) WITH ORDINALITY AS k(unit_id, t, n) "
        "JOIN pingan.patrol_ping p ON p.unit_id = k.unit_id AND p.ts = to_timestamp(k.t)",
        (list(unit_ids), [float(t) for t in ts])).fetchall()
    conn.commit()
    out: list[tuple[str, ...]] = [()] * len(ts)
    for n, officers in rows:
        out[n - 1] = tuple(officers or ())
    return out


def read_checkins(conn: psycopg.Connection, start: float, end: float,
                  lookback_s: float = 86_400) -> dict[str, list[tuple[float, str, str]]]:
    """checkpoint → [(ts, officer, action)] bearing on [start, end): from `lookback_s` before the
    start (an officer may have checked in earlier)."""
    out: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for cp_id, ts, officer, action in conn.execute(
            "SELECT checkpoint_id, date_part('epoch', ts), officer, action FROM pingan.checkin "
            "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", (start - lookback_s, end)):
        out[cp_id].append((ts, officer, action))
    conn.commit()
    return dict(out)


@dataclass(frozen=True)
class CameraEventArrays:
    camera: np.ndarray  # int32, indexes the camera ids asked for
    ts: np.ndarray
    online: np.ndarray  # bool


def read_camera_events(conn: psycopg.Connection, camera_ids: Sequence[str], start: float, end: float,
                       tail_s: float) -> CameraEventArrays:
    """Heartbeats (native and Frigate) and status changes of the given cameras in
    [start, end + tail_s), plus each camera's last event before the start and first after."""
    params = {"ids": list(camera_ids), "start": start, "end": end + tail_s}
    cams = "SELECT c.id AS camera_id, (c.n - 1)::int4 AS i FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS c(id, n)"
    cols = [("camera", "int4"), ("ts", "timestamptz"), ("online", "bool")]
    inside = copy_arrays(conn, f"""
        SELECT k.i, h.ts, h.online FROM pingan.camera_health h JOIN ({cams}) k USING (camera_id)
        WHERE h.ts >= to_timestamp(%(start)s) AND h.ts < to_timestamp(%(end)s)
        UNION ALL
        SELECT k.i, s.ts, s.online FROM pingan.device_status s JOIN ({cams}) k ON s.device_id = k.camera_id
        WHERE s.kind = 'camera' AND s.ts >= to_timestamp(%(start)s) AND s.ts < to_timestamp(%(end)s)""",
                         params, cols)
    edges = copy_arrays(conn, f"""
        SELECT k.i, e.ts, e.online FROM ({cams}) k CROSS JOIN LATERAL (
            SELECT ts, online FROM (
                (SELECT ts, online FROM pingan.camera_health h WHERE h.camera_id = k.camera_id
                 AND h.ts < to_timestamp(%(start)s) ORDER BY h.ts DESC LIMIT 1)
                UNION ALL
                (SELECT ts, online FROM pingan.device_status s WHERE s.kind = 'camera' AND s.device_id = k.camera_id
                 AND s.ts < to_timestamp(%(start)s) ORDER BY s.ts DESC LIMIT 1)) x
            ORDER BY ts DESC LIMIT 1) e
        UNION ALL
        SELECT k.i, e.ts, e.online FROM ({cams}) k CROSS JOIN LATERAL (
            SELECT ts, online FROM (
                (SELECT ts, online FROM pingan.camera_health h WHERE h.camera_id = k.camera_id
                 AND h.ts >= to_timestamp(%(end)s) ORDER BY h.ts LIMIT 1)
                UNION ALL
                (SELECT ts, online FROM pingan.device_status s WHERE s.kind = 'camera' AND s.device_id = k.camera_id
                 AND s.ts >= to_timestamp(%(end)s) ORDER BY s.ts LIMIT 1)) x
            ORDER BY ts LIMIT 1) e""", params, cols)
    conn.commit()
    return CameraEventArrays(*(np.concatenate([inside[k], edges[k]]) for k in ("camera", "ts", "online")))


def read_observed(conn: psycopg.Connection, start: float, end: float) -> list[tuple[float, float]]:
    """The stretches of [start, end) in which the ingest was receiving (merged)."""
    rows = conn.execute(
        "SELECT date_part('epoch', since), date_part('epoch', until) FROM pingan.ingest_uptime "
        "WHERE until > to_timestamp(%s) AND since < to_timestamp(%s) ORDER BY since", (start, end)).fetchall()
    conn.commit()
    return merge((max(a, start), min(b, end)) for a, b in rows)


def unit_kinds(conn: psycopg.Connection) -> dict[str, str]:
    kinds = dict(conn.execute("SELECT unit_id, kind FROM pingan.unit").fetchall())
    conn.commit()
    return kinds


def has_data(conn: psycopg.Connection, start: float, end: float) -> bool:
    """Anything at all stored for [start, end): a fix, a heartbeat, a status, a check-in."""
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pingan.patrol_ping WHERE ts >= to_timestamp(%(s)s) AND ts < to_timestamp(%(e)s)) "
        "OR EXISTS (SELECT 1 FROM pingan.camera_health WHERE ts >= to_timestamp(%(s)s) AND ts < to_timestamp(%(e)s)) "
        "OR EXISTS (SELECT 1 FROM pingan.device_status WHERE ts >= to_timestamp(%(s)s) AND ts < to_timestamp(%(e)s)) "
        "OR EXISTS (SELECT 1 FROM pingan.checkin WHERE ts >= to_timestamp(%(s)s) AND ts < to_timestamp(%(e)s))",
        {"s": start, "e": end}).fetchone()[0]
    conn.commit()
    return bool(found)


def read_records(conn: psycopg.Connection, start: float, end: float, *, snapshots: bool = True) -> FeedBatch:
    """Every accepted record with its time in [start, end), as the live feed carries them: what a
    reader of the feed replays to rebuild its state after it missed some of the feed."""
    span = (start, end)
    fixes = [PatrolFix(u, ts, lat, lon, officers=tuple(o or ()), cell_id=cell) for u, ts, lat, lon, o, cell in conn.execute(
        "SELECT unit_id, extract(epoch FROM ts)::float8, lat, lon, officers, cell_id FROM pingan.patrol_ping "
        "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", span)]
    health = [CameraHealth(c, ts, online, fps, recording=rec, storage_ok=sto, source=src)
              for c, ts, online, fps, rec, sto, src in conn.execute(
                  "SELECT camera_id, extract(epoch FROM ts)::float8, online, fps, recording, storage_ok, source "
                  "FROM pingan.camera_health WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", span)]
    statuses = [DeviceStatus(k, d, ts, online, src) for k, d, ts, online, src in conn.execute(
        "SELECT kind, device_id, extract(epoch FROM ts)::float8, online, source FROM pingan.device_status "
        "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", span)]
    checkins = [Checkin(cp, ts, officer, action, method) for cp, ts, officer, action, method in conn.execute(
        "SELECT checkpoint_id, extract(epoch FROM ts)::float8, officer, action, method FROM pingan.checkin "
        "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", span)]
    shots = []
    if snapshots:
        shots = [CameraSnapshot(c, ts, size, sha, bytes(img or b"")) for c, ts, size, sha, img in conn.execute(
            "SELECT camera_id, extract(epoch FROM ts)::float8, size_bytes, sha256, image FROM pingan.camera_snapshot "
            "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", span)]
    conn.commit()
    return FeedBatch(0.0, "database", fixes, health, statuses, checkins, shots)
