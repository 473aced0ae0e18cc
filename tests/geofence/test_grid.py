"""The four-level grid: nesting and tiling checks, the edge rule of the cell lookup, and a
GCJ-02 grid against its WGS-84 twin. Small grids whose answers are worked out by hand."""

from __future__ import annotations

import random

import pytest
import shapely
from shapely.geometry import Point, box, mapping

from geofence.checks import check_grid
from geofence.crs import CoordinateSystem, MetricFrame, wgs84_to_gcj02
from geofence.grid import Grid
from geofence.lookup import CellIndex
from pingan.democity import demo_city

FRAME = MetricFrame(118.78, 32.05)  # the grids below are drawn in metres around this point


def feature(cid, level, parent, geom_m, degrees=False):
    geom = geom_m if degrees else FRAME.to_degrees(geom_m)
    return {"type": "Feature", "properties": {"id": cid, "level": level, "parent": parent},
            "geometry": mapping(geom)}


def metre_grid(*extra, cells=None):
    """City = district = street = a 2000 × 1000 m box; four 1000 × 500 m cells tile the street."""
    cells = cells if cells is not None else {
        "G1": box(-1000, -500, 0, 0), "G2": box(0, -500, 1000, 0),
        "G3": box(-1000, 0, 0, 500), "G4": box(0, 0, 1000, 500)}
    whole = box(-1000, -500, 1000, 500)
    feats = [feature("C", "city", None, whole), feature("D", "district", "C", whole),
             feature("S", "street", "D", whole)]
    feats += [feature(cid, "grid", "S", g) for cid, g in cells.items()]
    return Grid.from_geojson({"type": "FeatureCollection", "features": feats + list(extra)})


def messages(grid, tolerance_m=1.0):
    return [p.message for p in check_grid(grid, tolerance_m)]


def test_a_clean_grid_has_no_problems():
    assert check_grid(metre_grid(), 1.0) == []


def test_child_outside_its_parent():
    # G4 reaches 30 m beyond the street's north edge: 1000 × (30 − 1) m² beyond a 1 m tolerance
    cells = {"G1": box(-1000, -500, 0, 0), "G2": box(0, -500, 1000, 0), "G3": box(-1000, 0, 0, 500),
             "G4": box(0, 0, 1000, 530)}
    (msg,) = messages(metre_grid(cells=cells))
    assert msg.startswith("lies outside its parent S: 29") and "m² beyond the 1 m tolerance" in msg
    # 0.5 m out is within a 1 m tolerance
    cells["G4"] = box(0, 0, 1000, 500.5)
    assert messages(metre_grid(cells=cells)) == []


def test_overlap_and_gap_between_siblings():
    # G2 reaches 20 m into G1; G4 stops 50 m short of the east edge
    cells = {"G1": box(-1000, -500, 0, 0), "G2": box(-20, -500, 1000, 0), "G3": box(-1000, 0, 0, 500),
             "G4": box(0, 0, 950, 500)}
    got = check_grid(metre_grid(cells=cells), 1.0)
    where = {p.message.split(" ")[0]: p.where for p in got}
    overlap = next(p.message for p in got if p.message.startswith("overlaps"))
    gap = next(p.message for p in got if "gap" in p.message)
    assert where["overlaps"].endswith("grid G1")
    assert overlap.startswith("overlaps G2 by 9") and "m²" in overlap  # 19 m × 499 m after shrinking
    assert where["1"].endswith("street S")
    assert gap.startswith("1 gap(s) no grid covers, 2") and "near 118.79" in gap  # ≈ 48.5 × 498 m, east side


def test_every_area_needs_children():
    empty = feature("D2", "district", "C", box(1000, -500, 2000, 500))
    grid = metre_grid(empty)
    msgs = messages(grid)
    assert "has no street inside it" in msgs
    assert any(m.startswith("lies outside its parent C") for m in msgs)  # D2 is outside the city too


def test_lookup_edges_and_corners_go_to_the_smallest_id():
    # cells in degrees so that the edge coordinates are exact
    feats = [feature("C", "city", None, box(0, 0, 2, 2), True), feature("D", "district", "C", box(0, 0, 2, 2), True),
             feature("S", "street", "D", box(0, 0, 2, 2), True),
             feature("b", "grid", "S", box(0, 0, 1, 1), True), feature("a", "grid", "S", box(1, 0, 2, 1), True),
             feature("d", "grid", "S", box(0, 1, 1, 2), True), feature("c", "grid", "S", box(1, 1, 2, 2), True)]
    grid = Grid.from_geojson({"type": "FeatureCollection", "features": feats})
    index = CellIndex(grid.leaves)
    lons = [0.5, 1.0, 1.0, 0.5, 1.0, 2.0, 2.5, 0.0]
    lats = [0.5, 0.5, 1.5, 1.0, 1.0, 2.0, 0.5, 0.0]
    assert index.lookup(lons, lats) == [
        "b",   # inside b
        "a",   # on the a|b edge: a < b
        "c",   # on the c|d edge: c < d
        "b",   # on the b|d edge: b < d
        "a",   # the corner of all four
        "c",   # the city's outer corner, only c touches it
        None,  # outside the city
        "b",   # the city's origin corner
    ]
    assert grid.ancestors["a"] == ("S", "D", "C")


def test_gcj02_grid_matches_its_wgs84_twin():
    city = demo_city()
    wgs = Grid.from_geojson(city["grid"])
    gcj_doc = {"type": "FeatureCollection", "features": [
        {**f, "geometry": mapping(wgs84_to_gcj02(shapely.geometry.shape(f["geometry"])))}
        for f in city["grid"]["features"]]}
    gcj = Grid.from_geojson(gcj_doc, crs=CoordinateSystem.GCJ02)
    frame = MetricFrame.around(wgs.cells["C"].geometry)
    raw_shift = frame.to_metres(shapely.geometry.shape(gcj_doc["features"][0]["geometry"])).hausdorff_distance(
        frame.to_metres(wgs.cells["C"].geometry))
    assert raw_shift > 300  # GCJ-02 is hundreds of metres off here
    for cid, cell in wgs.cells.items():
        assert frame.to_metres(gcj.cells[cid].geometry).hausdorff_distance(frame.to_metres(cell.geometry)) < 0.01
    assert check_grid(gcj) == []
    rnd = random.Random(5)
    pts = [(rnd.uniform(118.74, 118.82), rnd.uniform(32.02, 32.08)) for _ in range(2000)]
    # keep points more than a metre from any edge, where 1 cm cannot change the answer
    edges = shapely.union_all([frame.to_metres(c.geometry).boundary for c in wgs.leaves])
    pts = [p for p in pts if frame.to_metres(Point(p)).distance(edges) > 1.0]
    lons, lats = zip(*pts, strict=True)
    assert CellIndex(gcj.leaves).lookup(lons, lats) == CellIndex(wgs.leaves).lookup(lons, lats)


@pytest.mark.parametrize("bad_crs", ["gcj", "BD09"])
def test_unknown_crs_is_a_config_error(bad_crs):
    from pingan.config import ConfigError, load_settings

    with pytest.raises(ConfigError) as e:
        load_settings({"PINGAN_GRID__CRS": bad_crs})
    assert str(e.value.problems[0]).startswith("grid.crs (from PINGAN_GRID__CRS): Input should be 'WGS84' or 'GCJ02'")
