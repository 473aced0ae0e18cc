"""The standards a period is assessed against, and the city (a registry version) it is assessed on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from geofence.coverage import DefenceStandard, PatrolStandard, leaf_areas
from geofence.grid import Grid
from geofence.lookup import CellIndex
from geofence.sites import Camera, Checkpoint, parse_cameras, parse_checkpoints


@dataclass(frozen=True)
class Standards:
    patrol: PatrolStandard = PatrolStandard()
    defence: DefenceStandard = DefenceStandard()
    camera_heartbeat_s: Mapping[str, float] = field(default_factory=lambda: {
        "main_street": 60.0, "busy_junction": 60.0, "key_department": 60.0, "key_site": 60.0,
        "perimeter_junction": 60.0, "other": 300.0})
    missed_heartbeats: float = 3.0

    @property
    def timezone(self) -> str:
        return self.patrol.timezone

    def heartbeat_s(self, camera: Camera) -> float:
        return camera.heartbeat_s or self.camera_heartbeat_s.get(str(camera.category), 60.0)

    def digest(self) -> str:
        """Stored results computed under other standards are not reused."""
        p, d = self.patrol, self.defence
        doc = {"patrol": {"max_gap_s": float(p.max_gap_s), "step_m": float(p.step_m),
                          "min_dwell_s": {k: float(v) for k, v in p.min_dwell_s.items()},
                          "revisit": {str(k): float(v) for k, v in p.revisit_minutes.items()},
                          "active": [str(p.active_from), str(p.active_to)], "tz": p.timezone},
               "defence": {"camera": float(d.min_camera_uptime), "checkpoint": float(d.min_checkpoint_compliance),
                           "key": sorted(d.key_camera_categories)},
               "camera": {"heartbeat": {k: float(v) for k, v in self.camera_heartbeat_s.items()},
                          "missed": float(self.missed_heartbeats)}}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class City:
    """One registry version, parsed: the grid, its cell index, the sites and where they lie."""

    version: int
    grid: Grid
    cameras: list[Camera]
    checkpoints: list[Checkpoint]
    kinds: dict[str, str]  # unit → kind
    _index: CellIndex | None = None
    _areas: dict[str, float] | None = None
    _camera_cells: list[str | None] | None = None
    _checkpoint_cells: list[str | None] | None = None

    @classmethod
    def of(cls, version: int, doc: Mapping[str, Any]) -> "City":
        grid = Grid.from_geojson(doc["grid"], f"registry version {version}")
        cameras, problems = parse_cameras(doc["cameras"], f"registry version {version}: cameras")
        checkpoints, more = parse_checkpoints(doc["checkpoints"], f"registry version {version}: checkpoints")
        if problems or more:
            raise ValueError("; ".join(str(p) for p in problems + more))
        return cls(version, grid, cameras, checkpoints, {u["id"]: u.get("kind") or "car" for u in doc["units"]})

    @property
    def index(self) -> CellIndex:
        if self._index is None:
            self._index = CellIndex(self.grid.leaves)
        return self._index

    @property
    def areas(self) -> dict[str, float]:
        if self._areas is None:
            self._areas = leaf_areas(self.grid)
        return self._areas

    @property
    def camera_cells(self) -> list[str | None]:
        if self._camera_cells is None:
            self._camera_cells = self._cells_of(self.cameras)
        return self._camera_cells

    @property
    def checkpoint_cells(self) -> list[str | None]:
        if self._checkpoint_cells is None:
            self._checkpoint_cells = self._cells_of(self.checkpoints)
        return self._checkpoint_cells

    def _cells_of(self, sites) -> list[str | None]:
        if not sites:
            return []
        return self.index.lookup(np.array([s.lon for s in sites]), np.array([s.lat for s in sites]))
