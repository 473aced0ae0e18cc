"""What the geofence computations need from the store, read in bulk for a period."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Callable

import numpy as np
import psycopg

from geofence.coverage import Track
from geofence.sites import Checkpoint
from geofence.staffing import CheckinEvent, CrewFix


def unit_count(conn: psycopg.Connection, start: float, end: float) -> int:
    return conn.execute("SELECT count(DISTINCT unit_id) FROM pingan.patrol_ping "
                        "WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)", (start, end)).fetchone()[0]


def load_tracks(conn: psycopg.Connection, start: float, end: float,
                progress: Callable[[int], None] = lambda n: None) -> tuple[list[Track], list[CrewFix]]:
    """Each unit's fixes in [start, end), in time order, as tracks and as crews (officers aboard).
    Read through a server-side cursor, one unit at a time; progress(1) after each unit."""
    tracks: list[Track] = []
    crews: list[CrewFix] = []
    current: str | None = None
    kind = "car"
    rows: list[tuple] = []

    def flush() -> None:
        if current is None or not rows:
            return
        ts = np.fromiter((r[0] for r in rows), float, len(rows))
        lon = np.fromiter((r[1] for r in rows), float, len(rows))
        lat = np.fromiter((r[2] for r in rows), float, len(rows))
        tracks.append(Track(current, kind, ts, lon, lat))
        crews.append(CrewFix(current, ts, lon, lat, [tuple(r[3] or ()) for r in rows]))
        progress(1)

    with conn.cursor(name="pingan_tracks") as cur:
        cur.itersize = 50_000
        cur.execute("SELECT p.unit_id, coalesce(u.kind, 'car'), extract(epoch FROM p.ts)::float8, p.lon, p.lat, "
                    "p.officers FROM pingan.patrol_ping p LEFT JOIN pingan.unit u USING (unit_id) "
                    "WHERE p.ts >= to_timestamp(%s) AND p.ts < to_timestamp(%s) ORDER BY p.unit_id, p.ts",
                    (start, end))
        for unit_id, unit_kind, ts, lon, lat, officers in cur:
            if unit_id != current:
                flush()
                current, kind, rows = unit_id, unit_kind, []
            rows.append((ts, lon, lat, officers))
        flush()
    conn.commit()
    return tracks, crews


def camera_uptime(conn: psycopg.Connection, start: float, end: float) -> dict[str, list[tuple[str, str, float | None]]]:
    """cell → [(camera id, category, online share of its heartbeats in the period, None without any)]."""
    out: dict[str, list[tuple[str, str, float | None]]] = defaultdict(list)
    for camera_id, cell_id, category, uptime in conn.execute(
            "SELECT c.camera_id, c.cell_id, c.category, sum(h.online_samples)::float8 / nullif(sum(h.samples), 0) "
            "FROM pingan.camera c LEFT JOIN pingan.camera_uptime_hourly h ON h.camera_id = c.camera_id "
            "AND h.bucket >= to_timestamp(%s) AND h.bucket < to_timestamp(%s) "
            "WHERE c.cell_id IS NOT NULL GROUP BY 1, 2, 3", (start, end)):
        out[cell_id].append((camera_id, category, uptime))
    conn.commit()
    return dict(out)


def checkpoints_with_checkins(conn: psycopg.Connection, start: float, end: float,
                              ) -> list[tuple[Checkpoint, str | None, list[CheckinEvent]]]:
    """Every checkpoint with its cell and the check-ins that bear on [start, end) (a day before
    the start too: an officer may have checked in earlier)."""
    events: dict[str, list[CheckinEvent]] = defaultdict(list)
    for cp_id, ts, officer, action in conn.execute(
            "SELECT checkpoint_id, extract(epoch FROM ts)::float8, officer, action FROM pingan.checkin "
            "WHERE ts >= to_timestamp(%s) - INTERVAL '1 day' AND ts < to_timestamp(%s) ORDER BY ts", (start, end)):
        events[cp_id].append(CheckinEvent(ts, officer, action))
    out = []
    for cp_id, name, lon, lat, radius, staff, schedule, cell_id in conn.execute(
            "SELECT checkpoint_id, name, lon, lat, radius_m, min_staff, schedule, cell_id FROM pingan.checkpoint "
            "WHERE lon IS NOT NULL AND lat IS NOT NULL"):
        sched = schedule if isinstance(schedule, list) else json.loads(schedule or "[]")
        out.append((Checkpoint(cp_id, name or cp_id, lon, lat, radius or 50.0, staff or 1, tuple(sched)),
                    cell_id, events.get(cp_id, [])))
    conn.commit()
    return out
