"""Cameras and checkpoints: fixed points of the defence system, parsed from GeoJSON."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Mapping

import prcoords

from .crs import CoordinateSystem
from .grid import GridProblem
from .schedule import schedule_problems


class CameraCategory(StrEnum):
    MAIN_STREET = "main_street"
    BUSY_JUNCTION = "busy_junction"
    KEY_DEPARTMENT = "key_department"
    KEY_SITE = "key_site"
    PERIMETER_JUNCTION = "perimeter_junction"
    OTHER = "other"


@dataclass(frozen=True)
class Camera:
    id: str
    name: str
    category: CameraCategory
    expected_fps: float
    lon: float
    lat: float
    frigate_name: str | None = None
    heartbeat_s: float | None = None  # expected heartbeat interval; None: its category's default


@dataclass(frozen=True)
class Checkpoint:
    id: str
    name: str
    lon: float
    lat: float
    radius_m: float
    min_staff: int
    schedule: tuple[dict[str, Any], ...] = ()


def _points(collection: Mapping[str, Any], source: str, crs: CoordinateSystem):
    features = collection.get("features") if isinstance(collection, Mapping) else None
    if not isinstance(features, list):
        yield None, None, None, GridProblem(source, "not a GeoJSON FeatureCollection")
        return
    seen: set[str] = set()
    for i, feat in enumerate(features):
        where = f"{source}: features[{i}]"
        props = (feat or {}).get("properties") or {}
        fid = props.get("id")
        if not isinstance(fid, str) or not fid:
            yield None, None, None, GridProblem(where, "missing string property 'id'")
            continue
        where = f"{where} (id={fid})"
        geom = (feat or {}).get("geometry") or {}
        coords = geom.get("coordinates")
        if geom.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2 \
                or not all(isinstance(v, (int, float)) for v in coords[:2]):
            yield None, None, None, GridProblem(where, "geometry must be a Point [lon, lat]")
            continue
        lon, lat = float(coords[0]), float(coords[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            yield None, None, None, GridProblem(where, f"coordinates out of range: {lon}, {lat}")
            continue
        if fid in seen:
            yield None, None, None, GridProblem(where, "duplicate id")
            continue
        seen.add(fid)
        if crs is CoordinateSystem.GCJ02:
            w = prcoords.gcj_wgs_bored(prcoords.Coords(lat, lon), True)
            lon, lat = w.lon, w.lat
        yield where, props, (lon, lat), None


def parse_cameras(collection: Mapping[str, Any], source: str = "cameras",
                  crs: CoordinateSystem = CoordinateSystem.WGS84) -> tuple[list[Camera], list[GridProblem]]:
    cameras, problems = [], []
    for where, props, pos, problem in _points(collection, source, crs):
        if problem:
            problems.append(problem)
            continue
        try:
            category = CameraCategory(props.get("category", "other"))
        except ValueError:
            problems.append(GridProblem(where, f"category {props.get('category')!r} is not one of "
                                               f"{', '.join(CameraCategory)}"))
            continue
        fps = props.get("expected_fps", 25)
        if not isinstance(fps, (int, float)) or not 0 < fps <= 240:
            problems.append(GridProblem(where, "expected_fps must be a number in (0, 240]"))
            continue
        heartbeat = props.get("heartbeat_s")
        if heartbeat is not None and (not isinstance(heartbeat, (int, float)) or not 0 < heartbeat <= 86_400):
            problems.append(GridProblem(where, "heartbeat_s must be a number of seconds in (0, 86400]"))
            continue
        cameras.append(Camera(props["id"], str(props.get("name") or props["id"]), category, float(fps),
                              *pos, props.get("frigate_name"), None if heartbeat is None else float(heartbeat)))
    # Frigate's stats name cameras: each name must point at one camera only
    ids = {c.id for c in cameras}
    named: dict[str, str] = {}
    for c in cameras:
        if not c.frigate_name:
            continue
        if c.frigate_name in named:
            problems.append(GridProblem(f"{source}: camera {c.id}", f"frigate_name {c.frigate_name!r} is also camera "
                                                                   f"{named[c.frigate_name]}'s"))
        elif c.frigate_name in ids and c.frigate_name != c.id:
            problems.append(GridProblem(f"{source}: camera {c.id}", f"frigate_name {c.frigate_name!r} is another "
                                                                   "camera's id"))
        named[c.frigate_name] = c.id
    return cameras, problems


def parse_checkpoints(collection: Mapping[str, Any], source: str = "checkpoints",
                      crs: CoordinateSystem = CoordinateSystem.WGS84) -> tuple[list[Checkpoint], list[GridProblem]]:
    checkpoints, problems = [], []
    for where, props, pos, problem in _points(collection, source, crs):
        if problem:
            problems.append(problem)
            continue
        radius, staff = props.get("radius_m"), props.get("min_staff")
        if not isinstance(radius, (int, float)) or not 0 < radius <= 5000:
            problems.append(GridProblem(where, "radius_m must be a number in (0, 5000]"))
            continue
        if not isinstance(staff, int) or staff < 1:
            problems.append(GridProblem(where, "min_staff must be a positive integer"))
            continue
        schedule = props.get("schedule") or []
        if not isinstance(schedule, list) or not all(isinstance(s, dict) for s in schedule):
            problems.append(GridProblem(where, "schedule must be a list of objects"))
            continue
        bad = schedule_problems(schedule)
        if bad:
            problems.extend(GridProblem(where, b) for b in bad)
            continue
        checkpoints.append(Checkpoint(props["id"], str(props.get("name") or props["id"]), *pos,
                                      float(radius), staff, tuple(schedule)))
    return checkpoints, problems


def _feature_collection(items) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {k: v for k, v in props.items() if v is not None},
         "geometry": {"type": "Point", "coordinates": [round(x, 7), round(y, 7)]}}
        for x, y, props in items]}


def cameras_to_geojson(cameras: list[Camera]) -> dict[str, Any]:
    """The cameras as a GeoJSON FeatureCollection (WGS-84), as parse_cameras reads it."""
    return _feature_collection([(c.lon, c.lat, {"id": c.id, "name": c.name, "category": str(c.category),
                                    "expected_fps": c.expected_fps, "frigate_name": c.frigate_name,
                                    "heartbeat_s": c.heartbeat_s}) for c in cameras])


def checkpoints_to_geojson(checkpoints: list[Checkpoint]) -> dict[str, Any]:
    """The checkpoints as a GeoJSON FeatureCollection (WGS-84), as parse_checkpoints reads it."""
    return _feature_collection([(c.lon, c.lat, {"id": c.id, "name": c.name, "radius_m": c.radius_m, "min_staff": c.min_staff,
                                    "schedule": list(c.schedule)}) for c in checkpoints])
