"""Generated cities: a four-level grid of irregular cells at any size, the same for a seed.

Leaf cells are Voronoi cells of random seeds clipped to the city rectangle; streets are
unions of the cells whose centroids fall in one block of a regular partition, districts
unions of streets — so every level tiles its parent exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from geofence.grid import Grid, GridCell, Level, Priority
from geofence.sites import Camera, CameraCategory, Checkpoint, cameras_to_geojson, checkpoints_to_geojson

CITY_BOUNDS = (118.50, 31.80, 119.10, 32.30)  # about 57 × 56 km


def voronoi_cells(n: int, seed: int, bounds: tuple[float, float, float, float] = CITY_BOUNDS) -> list[shapely.Polygon]:
    west, south, east, north = bounds
    rng = np.random.default_rng(seed)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(west, east, n), rng.uniform(south, north, n)]))
    city = shapely.box(*bounds)
    polys = shapely.intersection(np.array(shapely.voronoi_polygons(seeds, extend_to=city.buffer(1)).geoms), city)
    return [p for p in polys if not p.is_empty]


DISTRICT_NAMES = ("东城区", "西城区", "南湖区", "北岭区", "中山区", "新港区", "江北区", "高新区", "滨江区", "云台区",
                  "临川区", "石桥区")


def _district_name(did: str) -> str:
    """Area names as the city writes them (Chinese): 东城区, its 东城第3街道, that street's 12号网格."""
    k = int(did[1:]) - 1
    return DISTRICT_NAMES[k] if k < len(DISTRICT_NAMES) else f"第{k + 1}区"


def generated_grid(n_cells: int, seed: int = 1, districts: int = 8, streets_per_district: int = 12,
                   key_share: float = 0.1, bounds: tuple[float, float, float, float] = CITY_BOUNDS) -> Grid:
    """A four-level grid of about n_cells leaf cells."""
    west, south, east, north = bounds
    rng = np.random.default_rng(seed + 1)
    polys = voronoi_cells(n_cells, seed, bounds)
    centroids = shapely.get_coordinates(shapely.centroid(np.array(polys)))
    # districts: vertical strips; streets: a regular split of each strip
    dcol = np.minimum(((centroids[:, 0] - west) / (east - west) * districts).astype(int), districts - 1)
    rows = max(1, round(math.sqrt(streets_per_district)))
    cols = max(1, math.ceil(streets_per_district / rows))
    strip = (east - west) / districts
    scol = np.minimum(((centroids[:, 0] - west - dcol * strip) / strip * cols).astype(int), cols - 1)
    srow = np.minimum(((centroids[:, 1] - south) / (north - south) * rows).astype(int), rows - 1)
    cells: dict[str, GridCell] = {"C": GridCell("C", Level.CITY, None, "示范市", shapely.box(*bounds))}
    members: dict[str, list[int]] = {}
    for i in range(len(polys)):
        members.setdefault(f"D{dcol[i] + 1:02d}S{srow[i] * cols + scol[i] + 1:03d}", []).append(i)
    district_parts: dict[str, list] = {}
    for sid, idx in sorted(members.items()):
        did = sid[:3]
        street = shapely.union_all([polys[i] for i in idx])
        cells[sid] = GridCell(sid, Level.STREET, did, f"{_district_name(did)[:-1]}第{int(sid[4:])}街道", street)
        district_parts.setdefault(did, []).append(street)
        for n, i in enumerate(idx):
            cid = f"{sid}G{n + 1:04d}"
            key = rng.random() < key_share
            cells[cid] = GridCell(cid, Level.GRID, sid, f"{cells[sid].name}{n + 1}号网格", polys[i],
                                  Priority.KEY if key else Priority.NORMAL)
    for did, parts in district_parts.items():
        cells[did] = GridCell(did, Level.DISTRICT, "C", _district_name(did), shapely.union_all(parts))
    return Grid.from_cells(cells)


@dataclass(frozen=True)
class UnitPlan:
    id: str
    kind: str  # foot | bike | car
    team: str  # the township (street) team
    officers: tuple[str, ...]


@dataclass(frozen=True)
class City:
    grid: Grid
    cameras: list[Camera]
    checkpoints: list[Checkpoint]
    units: list[UnitPlan]

    def write(self, folder: Path) -> Path:
        """GeoJSON for the grid, cameras and checkpoints, and the pingan.toml that names them."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "grid.geojson").write_text(json.dumps(self.grid.to_geojson()))
        (folder / "cameras.geojson").write_text(json.dumps(cameras_to_geojson(self.cameras)))
        (folder / "checkpoints.geojson").write_text(json.dumps(checkpoints_to_geojson(self.checkpoints)))
        lines = ['[grid]', 'path = "grid.geojson"', '', '[registry]', 'cameras = "cameras.geojson"',
                 'checkpoints = "checkpoints.geojson"', '']
        for u in self.units:
            lines += ['[[registry.units]]', f'id = "{u.id}"', f'kind = "{u.kind}"', f'team = "{u.team}"', '']
        path = folder / "pingan.toml"
        path.write_text("\n".join(lines))
        return path


def _beside_the_edge(points: np.ndarray, leaves, rng, metres: float = 10.0) -> np.ndarray:
    """A site at a junction or on an edge, as surveyed: a few metres into one of the cells that
    meet there (cells are convex, so a step toward a cell's centroid enters it)."""
    out = np.array(points, dtype=float).reshape(-1, 2)
    if not len(out):
        return out
    tree = shapely.STRtree([c.geometry for c in leaves])
    for k, (x, y) in enumerate(out):
        touching = tree.query(shapely.Point(x, y), predicate="dwithin", distance=1e-7)
        if len(touching) < 2 and leaves[touching[0]].geometry.boundary.distance(shapely.Point(x, y)) > 1e-4:
            continue  # well inside one cell already
        c = leaves[int(touching[rng.integers(len(touching))])].geometry.centroid
        dx, dy = (c.x - x) * 111_320 * math.cos(math.radians(y)), (c.y - y) * 110_574
        f = metres / max(math.hypot(dx, dy), metres)
        out[k] = (x + (c.x - x) * f, y + (c.y - y) * f)
    return out


def city_bounds(extent_km: float | None) -> tuple[float, float, float, float]:
    """The default city's bounds, or a square `extent_km` wide around its centre."""
    if extent_km is None:
        return CITY_BOUNDS
    west, south, east, north = CITY_BOUNDS
    x, y = (west + east) / 2, (south + north) / 2
    half_lat = extent_km * 500 / 110_574
    half_lon = extent_km * 500 / (111_320 * math.cos(math.radians(y)))
    return (x - half_lon, y - half_lat, x + half_lon, y + half_lat)


def generate_city(n_cells: int, seed: int = 1, bounds: tuple[float, float, float, float] = CITY_BOUNDS) -> City:
    """A whole city for n_cells (50 … 20,000): grid, cameras where the seed wants them, checkpoints
    on the roads into the city, and a patrol team of three units per street/township."""
    if not 50 <= n_cells <= 20_000:
        raise ValueError("a generated city has 50 to 20,000 cells")
    districts = int(np.clip(round(math.sqrt(n_cells) / 12), 2, 12))
    streets = int(np.clip(round(n_cells / districts / 40), 2, 16))
    grid = generated_grid(n_cells, seed, districts, streets, bounds=bounds)
    rng = np.random.default_rng(seed + 2)
    leaves = grid.leaves
    city = grid.at_level(Level.CITY)[0].geometry
    n_cam = max(12, n_cells // 2)
    # junctions: vertices shared by three or more cells; perimeter junctions: cell vertices on the city edge
    coords = np.round(np.concatenate([np.asarray(c.geometry.exterior.coords)[:-1] for c in leaves]), 9)
    uniq, counts = np.unique(coords, axis=0, return_counts=True)
    junctions = uniq[counts >= 3]  # where three or more cells meet
    on_edge = uniq[shapely.distance(shapely.points(uniq), city.exterior) < 1e-9]
    district_edges = shapely.union_all([d.geometry.boundary for d in grid.at_level(Level.DISTRICT)]).difference(
        city.exterior.buffer(1e-9))
    key = [c for c in leaves if c.priority is Priority.KEY] or leaves[:1]

    def pick(points: np.ndarray, k: int) -> np.ndarray:
        if not len(points):
            return np.zeros((0, 2))
        return points[rng.choice(len(points), size=min(k, len(points)), replace=False)]

    share = {"main_street": 0.25, "busy_junction": 0.25, "key_department": 0.1, "key_site": 0.1,
             "perimeter_junction": 0.1, "other": 0.2}
    places: list[tuple[str, float, float]] = []
    for category, frac in share.items():
        k = max(1, int(n_cam * frac))
        if category == "main_street":
            pts = np.array([district_edges.interpolate(rng.uniform(0, district_edges.length)).coords[0] for _ in range(k)])
        elif category == "busy_junction":
            pts = pick(junctions, k)
        elif category in ("key_department", "key_site"):
            cells = [key[i % len(key)] for i in rng.permutation(max(k, len(key)))[:k]]
            pts = np.array([c.geometry.representative_point().coords[0] for c in cells])
        elif category == "perimeter_junction":
            pts = pick(on_edge, k)
        else:
            west, south, east, north = bounds
            pts = np.column_stack([rng.uniform(west, east, k), rng.uniform(south, north, k)])
        places += [(category, float(x), float(y)) for x, y in _beside_the_edge(pts, leaves, rng)]
    cameras = [Camera(f"cam{i + 1:05d}", f"Camera {i + 1} ({cat})", CameraCategory(cat), 25.0, x, y)
               for i, (cat, x, y) in enumerate(places)]
    gates = _beside_the_edge(pick(on_edge, max(2, 2 * districts)), leaves, rng)
    checkpoints = [Checkpoint(f"cp{i + 1:03d}", f"Checkpoint {i + 1}", float(x), float(y), 60.0, 2,
                              ({"days": "mon-sun", "start": "00:00", "end": "24:00"},) if i % 2 == 0 else
                              ({"days": "mon-sun", "start": "07:00", "end": "22:00"},))
                   for i, (x, y) in enumerate(gates)]
    units = []
    for s in grid.at_level(Level.STREET):
        for k, kind in enumerate(("car", "bike", "foot")):
            uid = f"{s.id}-{kind}"
            units.append(UnitPlan(uid, kind, s.id, tuple(f"{uid}-o{j + 1}" for j in range(4 if k == 0 else 3))))
    return City(grid, cameras, checkpoints, units)
