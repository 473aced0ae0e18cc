"""The built-in demo city, as data: a rectangle at about 32° N, 2 districts × 2 streets × 2×2
grid cells, 12 cameras, 2 checkpoints, 8 patrol units (GeoJSON and JSON beside this file)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

WEST, SOUTH, EAST, NORTH = 118.74, 32.02, 118.82, 32.08  # its bounds


def demo_city() -> dict[str, Any]:
    """{"grid", "cameras", "checkpoints"}: GeoJSON FeatureCollections; "units": [{id, kind, team}]."""
    here = resources.files(__name__)
    doc = {k: json.loads(here.joinpath(f"{k}.geojson").read_text(encoding="utf-8"))
           for k in ("grid", "cameras", "checkpoints")}
    doc["units"] = json.loads(here.joinpath("units.json").read_text(encoding="utf-8"))
    return doc
