"""Registry and grid tables: written from the configuration, read back by every worker.

The database is the registry's truth, so a worker on another machine needs no files: it reads
the grid and the devices from here (and sees devices other workers auto-registered).

Every load of a different grid or registry is a version (``pingan.registry_version``): the
documents whole, and the time from which they are in force. The first version stands for all
time before it; each later one takes over from its load (or a later time given). A past period
is assessed on the version(s) in force then, never on whatever was loaded last.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import psycopg
import shapely

from geofence.crs import geodesic_area_m2
from geofence.grid import Grid
from geofence.lookup import CellIndex
from geofence.sites import Camera, Checkpoint, cameras_to_geojson, checkpoints_to_geojson


@dataclass(frozen=True)
class UnitRow:
    id: str
    kind: str = "car"
    team: str | None = None
    name: str | None = None
    owntracks: str | None = None


@dataclass
class RegistrySnapshot:
    units: set[str] = field(default_factory=set)
    owntracks: dict[str, str] = field(default_factory=dict)  # "user/device" → unit id
    cameras: set[str] = field(default_factory=set)
    frigate: dict[str, str] = field(default_factory=dict)  # Frigate camera name → camera id
    checkpoints: set[str] = field(default_factory=set)
    checkpoint_names: dict[str, str] = field(default_factory=dict)  # name → checkpoint id


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class VersionReport:
    version: int
    changed: bool  # a new version was recorded
    previous: int | None  # the version it replaces
    effective_from: float  # epoch seconds; -inf for the first


def document(grid: Grid, cameras: Sequence[Camera], checkpoints: Sequence[Checkpoint],
             units: Iterable[UnitRow]) -> dict[str, Any]:
    return {"grid": grid.to_geojson(), "cameras": cameras_to_geojson(list(cameras)),
            "checkpoints": checkpoints_to_geojson(list(checkpoints)),
            "units": [{"id": u.id, "kind": u.kind, "team": u.team, "name": u.name, "owntracks": u.owntracks}
                      for u in sorted(units, key=lambda u: u.id)]}


def record_version(conn: psycopg.Connection, doc: dict[str, Any], source: str | None,
                   effective: float | None = None) -> VersionReport:
    """Record the documents as a new version unless they equal the latest one. The first
    version is in force from the beginning of time; a later one from `effective` (default: now)."""
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    conn.execute("LOCK TABLE pingan.registry_version IN EXCLUSIVE MODE")
    latest = conn.execute("SELECT version, digest, date_part('epoch', effective_from) FROM pingan.registry_version "
                          "ORDER BY effective_from DESC LIMIT 1").fetchone()
    if latest is not None and latest[1] == digest:
        return VersionReport(latest[0], False, None, latest[2])
    now = conn.execute("SELECT date_part('epoch', now())").fetchone()[0]
    if latest is None:
        at = "-infinity"
    else:
        at = now if effective is None else effective
        if at <= latest[2]:
            raise RegistryError(f"a new version must take effect after version {latest[0]} did "
                                f"({latest[2]:.0f}); asked for {at:.0f}")
    version = (latest[0] if latest else 0) + 1
    grid = doc["grid"]["features"]
    conn.execute(
        "INSERT INTO pingan.registry_version (version, digest, effective_from, source, cells, cameras, checkpoints, "
        "units, document) VALUES (%s, %s, CASE WHEN %s::text = '-infinity' THEN '-infinity'::timestamptz "
        "ELSE to_timestamp(%s::float8) END, %s, %s, %s, %s, %s, %s)",
        (version, digest, str(at), None if at == "-infinity" else at, source,
         sum(1 for f in grid if f["properties"]["level"] == "grid"), len(doc["cameras"]["features"]),
         len(doc["checkpoints"]["features"]), len(doc["units"]), json.dumps(doc)))
    return VersionReport(version, True, latest[0] if latest else None, -math.inf if at == "-infinity" else at)


def versions_between(conn: psycopg.Connection, start: float, end: float) -> list[tuple[int, float, float]]:
    """(version, in force from, until) for every version in force during [start, end)."""
    rows = conn.execute(
        "SELECT version, f, u FROM (SELECT version, date_part('epoch', effective_from) AS f, "
        "coalesce(date_part('epoch', lead(effective_from) OVER (ORDER BY effective_from)), 'Infinity') AS u "
        "FROM pingan.registry_version) v WHERE f < %s AND u > %s ORDER BY f", (end, start)).fetchall()
    conn.commit()
    return [(v, f, u) for v, f, u in rows]


def load_version(conn: psycopg.Connection, version: int) -> dict[str, Any]:
    row = conn.execute("SELECT document FROM pingan.registry_version WHERE version = %s", (version,)).fetchone()
    conn.commit()
    if row is None:
        raise RegistryError(f"no registry version {version}")
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


def sync(conn: psycopg.Connection, grid: Grid, cameras: Sequence[Camera], checkpoints: Sequence[Checkpoint],
         units: Iterable[UnitRow], source: str | None = None, effective: float | None = None) -> VersionReport:
    """Record the configuration as a registry version (when it differs from the latest) and
    make the live registry tables match the version in force now (grid cells not in it are
    removed; devices are upserted, never deleted: history refers to them)."""
    units = list(units)
    with conn.transaction():
        report = record_version(conn, document(grid, cameras, checkpoints, units), source, effective)
        if report.changed and effective is not None and effective > conn.execute(
                "SELECT date_part('epoch', now())").fetchone()[0]:
            return report  # takes effect later: the live tables keep the version in force now
        _write_live(conn, report.version, grid, cameras, checkpoints, units)
    return report


def _write_live(conn: psycopg.Connection, version: int, grid: Grid, cameras: Sequence[Camera],
                checkpoints: Sequence[Checkpoint], units: Sequence[UnitRow]) -> None:
    index = CellIndex(grid.leaves)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pingan.grid_cell (cell_id, level, parent_id, name, priority, revisit_minutes, area_m2, geometry, "
            "version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (cell_id) DO UPDATE SET level = EXCLUDED.level, "
            "parent_id = EXCLUDED.parent_id, name = EXCLUDED.name, priority = EXCLUDED.priority, "
            "revisit_minutes = EXCLUDED.revisit_minutes, area_m2 = EXCLUDED.area_m2, geometry = EXCLUDED.geometry, "
            "version = EXCLUDED.version",
            [(c.id, str(c.level), c.parent, c.name, str(c.priority), c.revisit_minutes, geodesic_area_m2(c.geometry),
              json.dumps(shapely.geometry.mapping(c.geometry)), version) for c in grid.cells.values()])
        cur.execute("DELETE FROM pingan.grid_cell WHERE NOT (cell_id = ANY(%s))", (list(grid.cells),))
        cur.executemany(
            "INSERT INTO pingan.camera (camera_id, name, category, expected_fps, lon, lat, cell_id, frigate_name, "
            "heartbeat_s, version, auto_registered) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false) "
            "ON CONFLICT (camera_id) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category, "
            "expected_fps = EXCLUDED.expected_fps, lon = EXCLUDED.lon, lat = EXCLUDED.lat, cell_id = EXCLUDED.cell_id, "
            "frigate_name = EXCLUDED.frigate_name, heartbeat_s = EXCLUDED.heartbeat_s, version = EXCLUDED.version, "
            "auto_registered = false",
            [(c.id, c.name, str(c.category), c.expected_fps, c.lon, c.lat, index.lookup_one(c.lon, c.lat),
              c.frigate_name, c.heartbeat_s, version) for c in cameras])
        cur.executemany(
            "INSERT INTO pingan.checkpoint (checkpoint_id, name, lon, lat, radius_m, min_staff, schedule, cell_id, "
            "version, auto_registered) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, false) ON CONFLICT (checkpoint_id) "
            "DO UPDATE SET name = EXCLUDED.name, lon = EXCLUDED.lon, lat = EXCLUDED.lat, radius_m = EXCLUDED.radius_m, "
            "min_staff = EXCLUDED.min_staff, schedule = EXCLUDED.schedule, cell_id = EXCLUDED.cell_id, "
            "version = EXCLUDED.version, auto_registered = false",
            [(c.id, c.name, c.lon, c.lat, c.radius_m, c.min_staff, json.dumps(list(c.schedule)),
              index.lookup_one(c.lon, c.lat), version) for c in checkpoints])
        cur.executemany(
            "INSERT INTO pingan.unit (unit_id, kind, team_id, name, owntracks, auto_registered) "
            "VALUES (%s, %s, %s, %s, %s, false) ON CONFLICT (unit_id) DO UPDATE SET kind = EXCLUDED.kind, "
            "team_id = EXCLUDED.team_id, name = EXCLUDED.name, owntracks = EXCLUDED.owntracks, auto_registered = false",
            [(u.id, u.kind, u.team, u.name, u.owntracks) for u in units])


def load_snapshot(conn: psycopg.Connection) -> RegistrySnapshot:
    snap = RegistrySnapshot()
    for unit_id, owntracks in conn.execute("SELECT unit_id, owntracks FROM pingan.unit"):
        snap.units.add(unit_id)
        if owntracks:
            snap.owntracks[owntracks] = unit_id
    for camera_id, frigate in conn.execute("SELECT camera_id, frigate_name FROM pingan.camera"):
        snap.cameras.add(camera_id)
        if frigate:
            snap.frigate[frigate] = camera_id
    for cp_id, name in conn.execute("SELECT checkpoint_id, name FROM pingan.checkpoint"):
        snap.checkpoints.add(cp_id)
        if name:
            snap.checkpoint_names[name] = cp_id
    conn.commit()
    return snap


def load_grid(conn: psycopg.Connection) -> Grid | None:
    rows = conn.execute("SELECT cell_id, level, parent_id, name, priority, revisit_minutes, geometry "
                        "FROM pingan.grid_cell").fetchall()
    conn.commit()
    if not rows:
        return None
    features = [{"type": "Feature", "geometry": geom,
                 "properties": {"id": cid, "level": level, "parent": parent, "name": name, "priority": priority,
                                "revisit_minutes": revisit}}
                for cid, level, parent, name, priority, revisit, geom in rows]
    return Grid.from_geojson({"type": "FeatureCollection", "features": features}, source="pingan.grid_cell")
