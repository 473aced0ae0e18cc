"""Coverage of one city-day: a generated four-level grid (10,000 irregular cells), 2,000 patrol
units sending a fix every 10 s for 24 h (17.3M fixes), full four-level coverage.

Prints the wall time of the coverage (index, tracks, per-cell status, roll-ups at every
level), the peak RSS, and — for scale — the time merely to load the same fixes from a file.
Last line: coverage_seconds=<wall>. Target: ≤ 60 s and ≤ 4 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geofence.coverage import PatrolStandard, Track, leaf_areas, patrol_coverage, roll_up  # noqa: E402
from geofence.grid import Level  # noqa: E402
from geofence.lookup import CellIndex  # noqa: E402
from simulators.city import CITY_BOUNDS, generated_grid  # noqa: E402
from simulators.fleet import SPEED_MPS  # noqa: E402


def fleet(units: int, fixes: int, every_s: float, t0: float, seed: int = 3):
    """Random-walk tracks, reflected at the city's edge: (unit index, kind, ts, lon, lat) arrays."""
    west, south, east, north = CITY_BOUNDS
    rng = np.random.default_rng(seed)
    kinds = np.array(list(SPEED_MPS))[rng.integers(0, 3, units)]
    speed = np.array([SPEED_MPS[k] for k in kinds])
    heading = np.cumsum(rng.normal(0, 0.35, (units, fixes)), axis=1) + rng.uniform(0, 2 * np.pi, (units, 1))
    step = (speed * every_s)[:, None]
    lon = np.cumsum(np.cos(heading) * step / 94_400, axis=1) + rng.uniform(west, east, (units, 1))
    lat = np.cumsum(np.sin(heading) * step / 111_000, axis=1) + rng.uniform(south, north, (units, 1))
    lon = west + np.abs(((lon - west) + (east - west)) % (2 * (east - west)) - (east - west))  # reflect
    lat = south + np.abs(((lat - south) + (north - south)) % (2 * (north - south)) - (north - south))
    ts = t0 + np.arange(fixes) * every_s
    return kinds, np.broadcast_to(ts, (units, fixes)), lon, lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between fixes")
    ap.add_argument("--hours", type=float, default=24.0)
    a = ap.parse_args()
    t0 = 1_795_000_000.0  # a day in November 2026
    n = int(a.hours * 3600 / a.every)
    grid = generated_grid(a.cells, seed=1)
    kinds, ts, lon, lat = fleet(a.units, n, a.every, t0)
    print(f"{len(grid.leaves)} cells in {len(grid.at_level(Level.STREET))} streets and "
          f"{len(grid.at_level(Level.DISTRICT))} districts; {a.units} units × {n} fixes = {a.units * n / 1e6:.1f}M fixes")

    with tempfile.TemporaryDirectory() as tmp:  # the baseline: only reading the fixes back
        path = os.path.join(tmp, "fixes.npz")
        np.savez(path, ts=ts, lon=lon, lat=lat)
        t = time.perf_counter()
        with np.load(path) as f:
            loaded = (f["ts"], f["lon"], f["lat"])
        load_s = time.perf_counter() - t
        del loaded

    t = time.perf_counter()
    index = CellIndex(grid.leaves)
    tracks = (Track(f"u{u:04d}", kinds[u], ts[u], lon[u], lat[u]) for u in range(a.units))
    cells = patrol_coverage(grid, index, tracks, t0, t0 + a.hours * 3600, PatrolStandard())
    areas = leaf_areas(grid)
    status = {c: v.status for c, v in cells.items()}
    levels = {lvl: roll_up(grid, status, lvl, areas) for lvl in (Level.STREET, Level.DISTRICT, Level.CITY)}
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    status = Counter(str(c.status) for c in cells.values())
    (city,) = levels[Level.CITY]
    print(f"cells: {dict(status)}; city covered {city.covered:.1%} of its area, unknown {city.unknown:.1%}")
    print(f"load the fixes only: {load_s:.1f} s")
    print(f"full four-level coverage: {wall:.1f} s, peak RSS {rss / 1024:.2f} GiB")
    print(f"coverage_seconds={wall:.1f}")


if __name__ == "__main__":
    main()
