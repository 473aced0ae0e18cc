"""Generated cities: a four-level grid of irregular cells at any size, the same for a seed.

Leaf cells are Voronoi cells of random seeds clipped to the city rectangle; streets are
unions of the cells whose centroids fall in one block of a regular partition, districts
unions of streets — so every level tiles its parent exactly.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from geofence.grid import Grid, GridCell, Level, Priority

CITY_BOUNDS = (118.50, 31.80, 119.10, 32.30)  # about 57 × 56 km


def voronoi_cells(n: int, seed: int, bounds: tuple[float, float, float, float] = CITY_BOUNDS) -> list[shapely.Polygon]:
    west, south, east, north = bounds
    rng = np.random.default_rng(seed)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(west, east, n), rng.uniform(south, north, n)]))
    city = shapely.box(*bounds)
    polys = shapely.intersection(np.array(shapely.voronoi_polygons(seeds, extend_to=city.buffer(1)).geoms), city)
    return [p for p in polys if not p.is_empty]


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
    cells: dict[str, GridCell] = {"C": GridCell("C", Level.CITY, None, "City", shapely.box(*bounds))}
    members: dict[str, list[int]] = {}
    for i in range(len(polys)):
        members.setdefault(f"D{dcol[i] + 1:02d}S{srow[i] * cols + scol[i] + 1:03d}", []).append(i)
    district_parts: dict[str, list] = {}
    for sid, idx in sorted(members.items()):
        did = sid[:3]
        street = shapely.union_all([polys[i] for i in idx])
        cells[sid] = GridCell(sid, Level.STREET, did, f"Street {sid}", street)
        district_parts.setdefault(did, []).append(street)
        for n, i in enumerate(idx):
            cid = f"{sid}G{n + 1:04d}"
            key = rng.random() < key_share
            cells[cid] = GridCell(cid, Level.GRID, sid, f"Grid {cid}", polys[i],
                                  Priority.KEY if key else Priority.NORMAL)
    for did, parts in district_parts.items():
        cells[did] = GridCell(did, Level.DISTRICT, "C", f"District {did}", shapely.union_all(parts))
    return Grid.from_cells(cells)
