"""Cell lookup: Pingan's CellIndex against the strongest way found to do it with shapely,
same grid, same points, same run.

A generated irregular grid (Voronoi cells of random seeds, clipped to the city rectangle;
10,000 cells by default) and 1,000,000 random points. Two shapely methods are timed: the plain
``STRtree.query(points, predicate="within")``, and the strongest found — the tree's bounding-box
query for candidates, then ``contains_xy`` over them, vectorised, on prepared geometries. Every
answer of CellIndex must agree with shapely's.
Last line: cell_lookup_ratio=<the strongest shapely method's seconds ÷ CellIndex seconds>.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geofence.grid import GridCell, Level  # noqa: E402
from geofence.lookup import CellIndex  # noqa: E402
from simulators.city import voronoi_cells  # noqa: E402

WEST, SOUTH, EAST, NORTH = 118.50, 31.80, 119.10, 32.30  # about 57 × 56 km


def irregular_cells(n: int, seed: int) -> list[GridCell]:
    return [GridCell(f"G{i:05d}", Level.GRID, "S", f"cell {i}", p)
            for i, p in enumerate(voronoi_cells(n, seed, (WEST, SOUTH, EAST, NORTH)))]


def best_of(runs: int, fn):
    best, result = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3, help="best of this many timings of each")
    a = ap.parse_args()
    cells = irregular_cells(a.cells, seed=1)
    rng = np.random.default_rng(2)
    lons, lats = rng.uniform(WEST, EAST, a.points), rng.uniform(SOUTH, NORTH, a.points)

    geoms = np.array([c.geometry for c in cells], dtype=object)  # id order = this order
    tree = shapely.STRtree(geoms)

    def within() -> np.ndarray:
        hit_point, hit_cell = tree.query(shapely.points(lons, lats), predicate="within")
        out = np.full(a.points, -1, dtype=np.int64)
        out[hit_point] = hit_cell
        return out

    prepared = geoms.copy()
    shapely.prepare(prepared)

    def strongest() -> np.ndarray:
        cand_point, cand_cell = tree.query(shapely.points(lons, lats))  # bounding boxes only
        inside = shapely.contains_xy(prepared[cand_cell], lons[cand_point], lats[cand_point])
        out = np.full(a.points, -1, dtype=np.int64)
        hit = np.nonzero(inside)[0][::-1]  # the smallest cell index written last: it wins
        out[cand_point[hit]] = cand_cell[hit]
        return out

    t = time.perf_counter()
    index = CellIndex(cells)
    build = time.perf_counter() - t
    within_s, truth = best_of(a.runs, within)
    base_s, strong = best_of(a.runs, strongest)
    ours_s, got = best_of(a.runs, lambda: index.lookup_indices(lons, lats))
    agree = float(np.mean(got == truth))
    print(f"{len(cells)} irregular cells, {a.points:,} random points, best of {a.runs}")
    print(f"shapely STRtree.query(within):          {within_s:.3f} s ({a.points / within_s / 1e6:.2f} M points/s)")
    print(f"shapely bbox query + contains_xy (best): {base_s:.3f} s ({a.points / base_s / 1e6:.2f} M points/s)")
    print(f"CellIndex.lookup_indices:                {ours_s:.3f} s ({a.points / ours_s / 1e6:.2f} M points/s); "
          f"index built in {build:.2f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"agreement with shapely: {agree:.6%} ({int(np.sum(got != truth))} points differ; the two shapely "
          f"methods differ on {int(np.sum(strong != truth))})")
    if agree != 1.0 or np.any(strong != truth):
        raise SystemExit("disagreement with shapely: the lookup is wrong")
    print(f"CellIndex is {within_s / ours_s:.1f} × STRtree within, {base_s / ours_s:.1f} × the strongest shapely method")
    print(f"cell_lookup_ratio={base_s / ours_s:.1f}")


if __name__ == "__main__":
    main()
