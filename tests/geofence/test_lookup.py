"""The fast cell lookup answers exactly what shapely answers, on irregular grids, on their
vertices, in holes and enclaves — it is only faster (bench/cell_lookup.py)."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from geofence.grid import GridCell, Level
from geofence.lookup import CellIndex


def reference(geoms: list, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """shapely's answer with the documented edge rule: intersects, smallest index."""
    tree = shapely.STRtree(geoms)
    hit_point, hit_cell = tree.query(shapely.points(lons, lats), predicate="intersects")
    out = np.full(len(lons), -1)
    for p, c in sorted(zip(hit_point, hit_cell, strict=True), reverse=True):
        out[p] = c
    return out


def cells_of(geoms) -> list[GridCell]:
    return [GridCell(f"G{i:04d}", Level.GRID, "S", "", g) for i, g in enumerate(geoms)]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 300), seed=st.integers(0, 2**32 - 1), pixels=st.sampled_from([16, 400, 6400]))
def test_matches_shapely_on_irregular_grids_and_their_vertices(n, seed, pixels):
    rng = np.random.default_rng(seed)
    frame = shapely.box(118.7, 32.0, 118.9, 32.1)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(118.7, 118.9, n), rng.uniform(32.0, 32.1, n)]))
    geoms = shapely.intersection(np.array(shapely.voronoi_polygons(seeds, extend_to=frame.buffer(1)).geoms), frame)
    geoms = [g for g in geoms if not g.is_empty]
    CellIndex.PIXELS_PER_CELL = pixels  # coarse rasters make almost every point take the exact path
    try:
        index = CellIndex(cells_of(geoms))
    finally:
        CellIndex.PIXELS_PER_CELL = 6400
    vertices = shapely.get_coordinates(np.array(geoms))
    lons = np.concatenate([rng.uniform(118.69, 118.91, 3000), vertices[:, 0], [np.nan, 118.9, 118.7]])
    lats = np.concatenate([rng.uniform(31.99, 32.11, 3000), vertices[:, 1], [32.05, 32.1, 32.0]])
    assert np.array_equal(index.lookup_indices(lons, lats), reference(geoms, lons, lats))


def test_holes_enclaves_and_multipolygons():
    outer = Polygon(box(0, 0, 10, 10).exterior.coords, [box(4, 4, 6, 6).exterior.coords])  # with a hole
    enclave = box(4, 4, 5, 6)  # half the hole; the other half belongs to no cell
    islands = shapely.MultiPolygon([box(10, 0, 12, 2), box(10, 8, 12, 10)])
    geoms = [outer, enclave, islands]
    index = CellIndex(cells_of(geoms))
    lons = np.array([1, 4.5, 5.5, 11, 11, 11, 4, 10, 13])
    lats = np.array([1, 5, 5, 1, 9, 5, 5, 1, 5])
    # outer, enclave, the empty half of the hole, island 1, island 2, between islands,
    # on the outer|enclave edge (outer = G0000 < G0001), on outer|islands, outside
    assert index.lookup(lons, lats) == ["G0000", "G0001", None, "G0002", "G0002", None, "G0000", "G0000", None]
    assert np.array_equal(index.lookup_indices(lons, lats), reference(geoms, lons, lats))
