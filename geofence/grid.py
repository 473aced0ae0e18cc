"""The city's four-level patrol grid: city › district › street/township › grid cell.

Pure: built from GeoJSON dicts the caller has read; no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping, Sequence

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from .crs import CoordinateSystem, gcj02_to_wgs84


class Level(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    GRID = "grid"

    @property
    def depth(self) -> int:
        return _DEPTH[self]


_DEPTH = {Level.CITY: 0, Level.DISTRICT: 1, Level.STREET: 2, Level.GRID: 3}


class Priority(StrEnum):
    KEY = "key"
    NORMAL = "normal"


@dataclass(frozen=True)
class GridCell:
    id: str
    level: Level
    parent: str | None
    name: str
    geometry: BaseGeometry
    priority: Priority = Priority.NORMAL
    revisit_minutes: float | None = None


@dataclass(frozen=True)
class GridProblem:
    where: str
    message: str
    warning: bool = False  # allowed, but worth a look

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class GridError(ValueError):
    def __init__(self, problems: Sequence[GridProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(map(str, problems)))


@dataclass(frozen=True)
class Grid:
    """All cells of all levels, by id, with each leaf's chain of ancestors."""

    cells: Mapping[str, GridCell]
    ancestors: Mapping[str, tuple[str, ...]] = field(repr=False)

    @property
    def leaves(self) -> list[GridCell]:
        return sorted((c for c in self.cells.values() if c.level is Level.GRID), key=lambda c: c.id)

    def at_level(self, level: Level) -> list[GridCell]:
        return sorted((c for c in self.cells.values() if c.level is level), key=lambda c: c.id)

    def above(self, cell_id: str | None, level: Level) -> str | None:
        """The area of this level a cell lies in (the cell itself when it is of that level);
        None outside the grid or below the cell."""
        if cell_id not in self.cells:
            return None
        return next((a for a in (cell_id, *self.ancestors.get(cell_id, ())) if self.cells[a].level is level), None)

    @classmethod
    def from_geojson(cls, collection: Mapping[str, Any], source: str = "grid",
                     crs: CoordinateSystem = CoordinateSystem.WGS84) -> "Grid":
        cells, problems = parse_grid(collection, source, crs)
        if problems:
            raise GridError(problems)
        return cls.from_cells(cells)

    @classmethod
    def from_cells(cls, cells: Mapping[str, GridCell]) -> "Grid":
        return cls(cells=dict(cells), ancestors=_ancestors(cells))

    def to_geojson(self) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {
                        "id": c.id, "level": str(c.level), "parent": c.parent, "name": c.name,
                        "priority": str(c.priority), "revisit_minutes": c.revisit_minutes,
                    },
                    "geometry": shapely.geometry.mapping(c.geometry),
                }
                for c in sorted(self.cells.values(), key=lambda c: (c.level.depth, c.id))
            ],
        }


def parse_grid(collection: Mapping[str, Any], source: str = "grid", crs: CoordinateSystem = CoordinateSystem.WGS84,
               ) -> tuple[dict[str, GridCell], list[GridProblem]]:
    """Parse a grid FeatureCollection; return the cells (in WGS-84) and every problem found,
    by location. A GCJ-02 file is converted on load."""
    problems: list[GridProblem] = []
    cells: dict[str, GridCell] = {}
    features = collection.get("features") if isinstance(collection, Mapping) else None
    if not isinstance(features, list):
        return {}, [GridProblem(source, "not a GeoJSON FeatureCollection")]
    for i, feat in enumerate(features):
        where = f"{source}: features[{i}]"
        props = (feat or {}).get("properties") or {}
        cid = props.get("id")
        if not isinstance(cid, str) or not cid:
            problems.append(GridProblem(where, "missing string property 'id'"))
            continue
        where = f"{where} (id={cid})"
        try:
            level = Level(props.get("level"))
        except ValueError:
            problems.append(GridProblem(where, f"level {props.get('level')!r} is not one of city, district, street, grid"))
            continue
        try:
            priority = Priority(props.get("priority") or "normal")
        except ValueError:
            problems.append(GridProblem(where, f"priority {props.get('priority')!r} is not key or normal"))
            continue
        revisit = props.get("revisit_minutes")
        if revisit is not None and (not isinstance(revisit, (int, float)) or revisit <= 0):
            problems.append(GridProblem(where, "revisit_minutes must be a positive number"))
            continue
        try:
            geom = shape(feat["geometry"])
        except Exception as e:  # shapely raises several types for bad GeoJSON
            problems.append(GridProblem(where, f"bad geometry: {e}"))
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(GridProblem(where, f"geometry is a {geom.geom_type}, expected Polygon or MultiPolygon"))
            continue
        if not geom.is_valid:
            problems.append(GridProblem(where, f"invalid geometry: {explain_validity(geom)}"))
            continue
        if crs is CoordinateSystem.GCJ02:
            geom = gcj02_to_wgs84(geom)
        if cid in cells:
            problems.append(GridProblem(where, "duplicate id"))
            continue
        parent = props.get("parent") or None
        cells[cid] = GridCell(cid, level, parent, str(props.get("name") or cid), geom, priority,
                              float(revisit) if revisit is not None else None)
    cities = [c for c in cells.values() if c.level is Level.CITY]
    if len(cities) != 1 and cells:
        problems.append(GridProblem(source, f"expected exactly one city, found {len(cities)}"))
    for c in cells.values():
        where = f"{source}: {c.level} {c.id}"
        if c.level is Level.CITY:
            if c.parent is not None:
                problems.append(GridProblem(where, "a city has no parent"))
            continue
        if c.parent is None:
            problems.append(GridProblem(where, "missing parent"))
        elif c.parent not in cells:
            problems.append(GridProblem(where, f"parent {c.parent!r} does not exist"))
        elif cells[c.parent].level.depth != c.level.depth - 1:
            problems.append(GridProblem(where, f"parent {c.parent!r} is a {cells[c.parent].level}, "
                                               f"expected a {list(Level)[c.level.depth - 1]}"))
    return cells, problems


def _ancestors(cells: Mapping[str, GridCell]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for c in cells.values():
        chain: list[str] = []
        p = c.parent
        while p is not None:
            chain.append(p)
            p = cells[p].parent
        out[c.id] = tuple(chain)
    return out
