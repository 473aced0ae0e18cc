"""Generated cities: the same seed gives the same grid, and every level tiles its parent."""

from __future__ import annotations

from geofence.checks import check_grid
from geofence.grid import Level
from simulators.city import generated_grid


def test_same_seed_same_city_and_it_passes_the_grid_checks():
    a, b = generated_grid(300, seed=4), generated_grid(300, seed=4)
    def shapes(g):
        return {k: v.geometry.wkb for k, v in g.cells.items()}

    assert shapes(a) == shapes(b)
    assert shapes(generated_grid(300, seed=5)) != shapes(a)
    assert len(a.leaves) == 300 and len(a.at_level(Level.CITY)) == 1 and len(a.at_level(Level.DISTRICT)) == 8
    assert check_grid(a, 1.0) == []
