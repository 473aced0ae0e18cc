"""What camera-maintenance teams are measured by, over a period: per camera its time-based
availability, outages, mean time to repair, longest outage and image faults by kind with their
duration; summed per street, district and category, worst first, against an SLA line.

- **Availability**: seconds up over seconds up + down (``assessment.uptime``, the assessment's
  own rule); the unknown share (the ingest not receiving, the camera not yet heard from) beside
  it, never counted up or down.
- **Outages**: down spells begun in the period. **Mean time to repair**: down seconds over
  outages (a spell begun before the period adds its down time here without being counted).
  **Longest outage**: the longest run of stored hours each with down time, their down seconds
  summed (``pingan.camera_uptime_hourly``).
- **Image faults**: the image alerts of the camera (``pingan.alert``, types ``image_*``), each
  counted where it overlaps the period, for the time it overlaps (an open one: up to the end).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import psycopg

from geofence.grid import Grid, Level

from .standards import City, Standards
from .uptime import camera_uptime


class _Seconds:
    """What follows from up, down and unknown seconds and outages."""

    up_s: float
    down_s: float
    unknown_s: float
    outages: int

    @property
    def availability(self) -> float | None:
        known = self.up_s + self.down_s
        return self.up_s / known if known > 0 else None

    @property
    def unknown(self) -> float:
        total = self.up_s + self.down_s + self.unknown_s
        return self.unknown_s / total if total > 0 else 1.0

    @property
    def mttr_s(self) -> float | None:
        return self.down_s / self.outages if self.outages else None


@dataclass
class CameraFigures(_Seconds):
    camera_id: str
    name: str
    category: str
    key: bool
    street: str | None
    district: str | None
    up_s: float
    down_s: float
    unknown_s: float
    outages: int
    longest_outage_s: float = 0.0
    faults: dict[str, list[float]] = field(default_factory=dict)  # kind → [count, seconds]


@dataclass
class GroupFigures(_Seconds):
    group: str  # street, district or category
    group_id: str
    name: str
    cameras: int
    up_s: float
    down_s: float
    unknown_s: float
    outages: int
    longest_outage_s: float
    faults: dict[str, list[float]]


def longest_outages(conn: psycopg.Connection, ids: Sequence[str], start: float, end: float) -> dict[str, float]:
    """Per camera: the longest run of stored hours each with down time in [start, end), their down seconds summed."""
    rows = conn.execute(
        "WITH h AS (SELECT camera_id, bucket, down_s, bucket - row_number() OVER (PARTITION BY camera_id ORDER BY bucket) "
        "* interval '1 hour' AS island FROM pingan.camera_uptime_hourly WHERE camera_id = ANY(%s) AND down_s > 0 "
        "AND bucket >= to_timestamp(%s) AND bucket < to_timestamp(%s)) "
        "SELECT camera_id, max(s) FROM (SELECT camera_id, island, sum(down_s) AS s FROM h GROUP BY camera_id, island) x "
        "GROUP BY camera_id", (list(ids), start, end)).fetchall()
    conn.commit()
    return {c: float(s) for c, s in rows}


def image_faults(conn: psycopg.Connection, ids: Sequence[str], start: float, end: float) -> dict[str, dict]:
    """Per camera, per kind: [alerts overlapping the period, seconds overlapped]."""
    rows = conn.execute(
        "SELECT subject, type, count(*), sum(date_part('epoch', least(coalesce(resolved_at, to_timestamp(%s)), "
        "to_timestamp(%s)) - greatest(since, to_timestamp(%s)))) FROM pingan.alert WHERE type LIKE 'image\\_%%' "
        "AND subject = ANY(%s) AND since < to_timestamp(%s) AND coalesce(resolved_at, 'infinity') > to_timestamp(%s) "
        "GROUP BY subject, type", (end, end, start, list(ids), end, start)).fetchall()
    conn.commit()
    out: dict[str, dict] = defaultdict(dict)
    for cam, kind, n, secs in rows:
        out[cam][kind.removeprefix("image_")] = [int(n), max(0.0, float(secs or 0.0))]
    return out


def cameras(conn: psycopg.Connection, city: City, std: Standards, start: float, end: float, now: float,
            timescale: bool = False) -> list[CameraFigures]:
    """Every camera of the registry version, worst availability first (unknown last)."""
    cams = list(city.cameras)
    ups = camera_uptime(conn, cams, std, start, end, now, timescale=timescale)
    ids = [c.id for c in cams]
    longest = longest_outages(conn, ids, start, end)
    faults = image_faults(conn, ids, start, end)
    keys = set(std.defence.key_camera_categories)
    out = []
    for cam, cell, u in zip(cams, city.camera_cells, ups, strict=True):
        out.append(CameraFigures(cam.id, cam.name, str(cam.category), str(cam.category) in keys,
                                 city.grid.above(cell, Level.STREET), city.grid.above(cell, Level.DISTRICT),
                                 u.up_s, u.down_s, u.unknown_s, u.outages, longest.get(cam.id, 0.0),
                                 faults.get(cam.id, {})))
    return sorted(out, key=lambda c: (c.availability is None, c.availability or 0.0, c.camera_id))


def groups(figures: Sequence[CameraFigures], grid: Grid) -> list[GroupFigures]:
    """The cameras summed per street, district and category, worst availability first in each."""
    out = []
    for group, key in (("district", lambda c: c.district), ("street", lambda c: c.street),
                       ("category", lambda c: c.category)):
        sums: dict[str, GroupFigures] = {}
        for c in figures:
            gid = key(c)
            if gid is None:
                continue
            name = grid.cells[gid].name if group != "category" and gid in grid.cells else gid
            g = sums.setdefault(gid, GroupFigures(group, gid, name, 0, 0.0, 0.0, 0.0, 0, 0.0, {}))
            g.cameras += 1
            g.up_s += c.up_s
            g.down_s += c.down_s
            g.unknown_s += c.unknown_s
            g.outages += c.outages
            g.longest_outage_s = max(g.longest_outage_s, c.longest_outage_s)
            for kind, (n, secs) in c.faults.items():
                f = g.faults.setdefault(kind, [0, 0.0])
                f[0] += n
                f[1] += secs
        out += sorted(sums.values(), key=lambda g: (g.availability is None, g.availability or 0.0, g.group_id))
    return out
