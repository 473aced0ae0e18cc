"""Registry and grid tables: written from the configuration, read back by every worker.

The database is the registry's truth, so a worker on another machine needs no files: it reads
the grid and the devices from here (and sees devices other workers auto-registered).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import psycopg
import shapely

from geofence.crs import geodesic_area_m2
from geofence.grid import Grid
from geofence.lookup import CellIndex
from geofence.sites import Camera, Checkpoint


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


def sync(conn: psycopg.Connection, grid: Grid, cameras: Sequence[Camera], checkpoints: Sequence[Checkpoint],
         units: Iterable[UnitRow]) -> None:
    """Make the registry tables match the configuration (grid cells not in it are removed;
    devices are upserted, never deleted: history refers to them)."""
    index = CellIndex(grid.leaves)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pingan.grid_cell (cell_id, level, parent_id, name, priority, revisit_minutes, area_m2, geometry) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (cell_id) DO UPDATE SET level = EXCLUDED.level, "
            "parent_id = EXCLUDED.parent_id, name = EXCLUDED.name, priority = EXCLUDED.priority, "
            "revisit_minutes = EXCLUDED.revisit_minutes, area_m2 = EXCLUDED.area_m2, geometry = EXCLUDED.geometry",
            [(c.id, str(c.level), c.parent, c.name, str(c.priority), c.revisit_minutes, geodesic_area_m2(c.geometry),
              json.dumps(shapely.geometry.mapping(c.geometry))) for c in grid.cells.values()])
        cur.execute("DELETE FROM pingan.grid_cell WHERE NOT (cell_id = ANY(%s))", (list(grid.cells),))
        cur.executemany(
            "INSERT INTO pingan.camera (camera_id, name, category, expected_fps, lon, lat, cell_id, frigate_name, "
            "auto_registered) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false) ON CONFLICT (camera_id) DO UPDATE SET "
            "name = EXCLUDED.name, category = EXCLUDED.category, expected_fps = EXCLUDED.expected_fps, "
            "lon = EXCLUDED.lon, lat = EXCLUDED.lat, cell_id = EXCLUDED.cell_id, "
            "frigate_name = EXCLUDED.frigate_name, auto_registered = false",
            [(c.id, c.name, str(c.category), c.expected_fps, c.lon, c.lat, index.lookup_one(c.lon, c.lat),
              c.frigate_name) for c in cameras])
        cur.executemany(
            "INSERT INTO pingan.checkpoint (checkpoint_id, name, lon, lat, radius_m, min_staff, schedule, cell_id, "
            "auto_registered) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false) ON CONFLICT (checkpoint_id) DO UPDATE "
            "SET name = EXCLUDED.name, lon = EXCLUDED.lon, lat = EXCLUDED.lat, radius_m = EXCLUDED.radius_m, "
            "min_staff = EXCLUDED.min_staff, schedule = EXCLUDED.schedule, cell_id = EXCLUDED.cell_id, "
            "auto_registered = false",
            [(c.id, c.name, c.lon, c.lat, c.radius_m, c.min_staff, json.dumps(list(c.schedule)),
              index.lookup_one(c.lon, c.lat)) for c in checkpoints])
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
    snap.checkpoints.update(r[0] for r in conn.execute("SELECT checkpoint_id FROM pingan.checkpoint"))
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
