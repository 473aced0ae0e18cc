"""Checks that a grid nests and tiles: each child lies within its parent, and the children of
each area cover it without overlaps or holes, all up to a tolerance in metres.

Measured in a metric frame centred on the city (see crs.py). Rules, for an auditor:
- **outside its parent:** the part of a child farther than the tolerance from its parent;
- **overlap:** two siblings that still intersect after each is shrunk by half the tolerance;
- **gap:** a part of the parent, more than the tolerance inside its edge, that no child
  covers even when the children are grown by half the tolerance;
- every city, district and street has at least one child.
"""

from __future__ import annotations

from collections import defaultdict

import shapely

from .crs import MetricFrame
from .grid import Grid, GridProblem, Level


def check_grid(grid: Grid, tolerance_m: float = 1.0, source: str = "grid") -> list[GridProblem]:
    problems: list[GridProblem] = []
    cities = grid.at_level(Level.CITY)
    if not cities:
        return problems
    frame = MetricFrame.around(cities[0].geometry)
    metric = {cid: frame.to_metres(c.geometry) for cid, c in grid.cells.items()}
    children: dict[str, list[str]] = defaultdict(list)
    for c in grid.cells.values():
        if c.parent is not None:
            children[c.parent].append(c.id)

    def where(cid: str) -> str:
        return f"{source}: {grid.cells[cid].level} {cid}"

    def at(geom) -> str:
        p = frame.to_degrees(geom.representative_point())
        return f"near {p.x:.6f}, {p.y:.6f}"

    for cell in sorted(grid.cells.values(), key=lambda c: (c.level.depth, c.id)):
        kids = sorted(children.get(cell.id, []))
        if cell.level is not Level.GRID and not kids:
            problems.append(GridProblem(where(cell.id), f"has no {list(Level)[cell.level.depth + 1]} inside it"))
            continue
        if not kids:
            continue
        parent = metric[cell.id]
        grown = parent.buffer(tolerance_m)
        for k in kids:
            outside = metric[k].difference(grown)
            if not outside.is_empty and outside.area > 0:
                problems.append(GridProblem(where(k), f"lies outside its parent {cell.id}: {outside.area:.0f} m² "
                                                      f"beyond the {tolerance_m:g} m tolerance, {at(outside)}"))
        shrunk = [metric[k].buffer(-tolerance_m / 2) for k in kids]
        tree = shapely.STRtree(shrunk)
        left, right = tree.query(shrunk, predicate="intersects")
        for i, j in zip(left, right, strict=True):
            if i < j:
                overlap = shrunk[i].intersection(shrunk[j])
                if overlap.area > 0:
                    problems.append(GridProblem(where(kids[i]), f"overlaps {kids[j]} by {overlap.area:.0f} m² "
                                                                f"beyond the tolerance, {at(overlap)}"))
        covered = shapely.union_all([metric[k] for k in kids]).buffer(tolerance_m / 2)
        gap = parent.buffer(-tolerance_m).difference(covered)
        if not gap.is_empty and gap.area > 0:
            parts = list(getattr(gap, "geoms", [gap]))
            biggest = max(parts, key=lambda g: g.area)
            problems.append(GridProblem(where(cell.id), f"{len(parts)} gap(s) no {list(Level)[cell.level.depth + 1]} "
                                                        f"covers, {gap.area:.0f} m² in all; the largest "
                                                        f"{biggest.area:.0f} m² {at(biggest)}"))
    return problems
