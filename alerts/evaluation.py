"""Evaluation: the rules' state for one registry version, each record through its rule (a table
from record type to rule), absence at a moment, and the patrol judgements — coverage gaps,
checkpoint staffing, team strength — over a period, with the time nobody received taken out.
Parameters are built once per registry version. No I/O but through the callables given (a
camera's first healthy view kept as its reference)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from assessment.periods import city_days
from assessment.standards import City, Standards
from geofence.staffing import shifts_of
from store.records import CameraHealth, CameraSnapshot, Checkin, DeviceStatus, PatrolFix

from .image import History, pick_reference, snapshot_light
from .rules import NOTHING_MISSED, Condition, cameras, images, patrol, units
from .settings import AlertSettings

log = logging.getLogger(__name__)

Diagnose = Callable[[bytes, bytes | None, bytes | None, dict | None], Any]  # snapshot, previous, reference, normal
SaveReference = Callable[[str, str, bytes, float], None]  # camera, light, image, taken at


@dataclass
class RuleState:
    cameras: dict[str, cameras.CameraState] = field(default_factory=dict)
    units: dict[str, units.UnitState] = field(default_factory=dict)
    images: dict[str, images.ImageState] = field(default_factory=dict)
    patrol: patrol.PatrolState = field(default_factory=patrol.PatrolState)
    previous_image: dict[str, bytes] = field(default_factory=dict)
    reference_image: dict[str, dict[str, bytes]] = field(default_factory=dict)  # camera → light → view
    image_history: dict[str, History] = field(default_factory=dict)  # camera → its normal, from its healthy snapshots


class Evaluation:
    def __init__(self, settings: AlertSettings, std: Standards, city: City, teams: dict[str, str], *,
                 team_minimum: int = 10, diagnose: Diagnose | None = None,
                 save_reference: SaveReference | None = None):
        self.settings, self.std, self.city = settings, std, city
        self.teams = teams  # unit → its team (a street/township of the grid)
        self.team_minimum = team_minimum
        self.diagnose = diagnose
        self.save_reference = save_reference
        self.state = RuleState()
        self.judged_shifts: set[tuple[float, float]] = set()
        self.sites = {c.id: (c, cell) for c, cell in zip(city.cameras, city.camera_cells, strict=True)}
        self.camera_params = cameras.CameraParams(std.missed_heartbeats, settings.low_fps_ratio,
                                                  settings.flapping_transitions, settings.flapping_window_s)
        self.unit_params = units.UnitParams(std.patrol.max_gap_s)
        self.patrol_params = patrol.PatrolParams(
            city.grid, city.index, std.patrol, city.checkpoints,
            {c.id: {"priority": str(c.priority), **self.areas(c.id)} for c in city.grid.leaves},
            {cp.id: self.areas(cell) for cp, cell in zip(city.checkpoints, city.checkpoint_cells, strict=True)})
        key = {c.id for c in city.grid.leaves if str(c.priority) == "key"}
        self.key_cameras: dict[str, list[str]] = {cell: [] for cell in key}  # key cell → its key-location cameras
        for cam, cell in zip(city.cameras, city.camera_cells, strict=True):
            if cell in key and str(cam.category) in std.defence.key_camera_categories:
                self.key_cameras[cell].append(cam.id)
        self._rules: dict[type, Callable[[Any], list[Condition]]] = {
            PatrolFix: self._fix, CameraHealth: self._health, DeviceStatus: self._status, Checkin: self._checkin,
            CameraSnapshot: self._snapshot}

    # -- where things are: an alert's scope --------------------------------------------------------
    def areas(self, area_id: str | None) -> dict[str, str]:
        """A cell (or any area) and the areas above it, by level: {"cell", "street", "district", "city"}."""
        grid = self.city.grid
        if area_id is None or area_id not in grid.cells:
            return {}
        return {("cell" if str(grid.cells[a].level) == "grid" else str(grid.cells[a].level)): a
                for a in (area_id, *grid.ancestors[area_id])}

    def camera(self, camera_id: str) -> cameras.CameraState:
        st = self.state.cameras.get(camera_id)
        if st is None:
            cam, cell = self.sites.get(camera_id, (None, None))
            scope = {"category": str(cam.category) if cam else "other", **self.areas(cell)}
            st = cameras.CameraState(camera_id, self.std.heartbeat_s(cam) if cam else 300.0,
                                     cam.expected_fps if cam else None, scope)
            self.state.cameras[camera_id] = st
        return st

    def unit(self, unit_id: str) -> units.UnitState:
        st = self.state.units.get(unit_id)
        if st is None:
            team = self.teams.get(unit_id)
            area = team if team in self.city.grid.cells else None
            st = units.UnitState(unit_id, area, {"kind": self.city.kinds.get(unit_id, "car"),
                                                 **({"team": team} if team else {})})
            self.state.units[unit_id] = st
        return st

    # -- records, each through its rule ------------------------------------------------------------
    def record(self, r) -> list[Condition]:
        rule = self._rules.get(type(r))
        return rule(r) if rule is not None else []

    def _fix(self, f: PatrolFix) -> list[Condition]:
        st = self.unit(f.unit_id)
        patrol.add_fix(self.state.patrol, f, self.city.kinds.get(f.unit_id, "car"))
        return units.on_fix(st, f, self.city.grid.ancestors, self.unit_params)

    def _health(self, h: CameraHealth) -> list[Condition]:
        return cameras.on_health(self.camera(h.camera_id), h, self.camera_params)

    def _status(self, s: DeviceStatus) -> list[Condition]:
        if s.kind == "camera":
            return cameras.on_status(self.camera(s.device_id), s, self.camera_params)
        if s.source == "duty":
            return units.on_duty(self.unit(s.device_id), s, self.unit_params)
        return []

    def _checkin(self, c: Checkin) -> list[Condition]:
        patrol.add_checkin(self.state.patrol, c)
        return []

    def _snapshot(self, s: CameraSnapshot) -> list[Condition]:
        if self.diagnose is None or not s.image:
            return []
        st = self.state.images.get(s.camera_id)
        if st is None:
            st = self.state.images[s.camera_id] = images.ImageState(s.camera_id, self.camera(s.camera_id).scope)
        if s.ts <= st.last_ts:
            return []
        prev = self.state.previous_image.get(s.camera_id)
        refs = self.state.reference_image.setdefault(s.camera_id, {})
        history = self.state.image_history.setdefault(s.camera_id, History())
        try:
            light = snapshot_light(s.image)
            d = self.diagnose(s.image, prev, pick_reference(refs, light, self._daylight(s.ts)), history.normal(light))
        except Exception:  # one bad image never stops the service
            log.exception("diagnosis failed on a snapshot of camera %s", s.camera_id)
            return []
        self.state.previous_image[s.camera_id] = s.image
        if not d.faults:
            history.add(light, d.scores)
        if light not in refs and not d.faults:  # the first healthy view in each light is its reference
            refs[light] = s.image
            if self.save_reference is not None:
                self.save_reference(s.camera_id, light, s.image, s.ts)
        return images.on_diagnosis(st, s.ts, d.faults, self.settings.image_confirm, d.scores)

    def _daylight(self, ts: float) -> bool:
        """Broad daylight in the city at ts (08:00–17:00, whatever the season)."""
        return 8 <= datetime.fromtimestamp(ts, ZoneInfo(self.std.timezone)).hour < 17

    # -- absence, and the patrol judgements --------------------------------------------------------
    def absence(self, now: float, missed: tuple[float, float] = NOTHING_MISSED) -> list[Condition]:
        """Cameras and units gone silent by `now` (missed: the latest stretch nobody received)."""
        out: list[Condition] = []
        for st in self.state.cameras.values():
            out += cameras.on_tick(st, now, self.camera_params, missed)
        for st in self.state.units.values():
            out += units.on_tick(st, now, self.unit_params, missed)
        return out

    def judge(self, start: float, at: float, closed: bool, unobserved: Sequence[tuple[float, float]],
              missed: tuple[float, float]) -> list[Condition]:
        """Coverage gaps and staffing over [start, at), and the team shifts ended by then."""
        silent = {st.cell for st in self.state.units.values()
                  if st.cell and units.silent_since(st, at, self.unit_params, missed) is not None}
        return (patrol.evaluate(self.state.patrol, self.patrol_params, start, at, closed=closed, held=silent,
                                unobserved=unobserved)
                + self._teams_judged(start, at, closed, unobserved))

    def _teams_judged(self, start: float, at: float, closed: bool,
                      unobserved: Sequence[tuple[float, float]]) -> list[Condition]:
        """The shifts within [start, at] that have ended (and, where the period closes, the one it
        cuts), each judged once."""
        teams = {u: t for u, t in self.teams.items() if t in self.city.grid.cells}
        if not teams:
            return []
        due = []
        for day, _, _ in city_days(start, at, self.std.timezone):
            for a, b in shifts_of(day, self.settings.team_shifts, self.std.timezone):
                a, b = max(a, start), min(b, at) if closed else b
                if a < b <= at and (a, b) not in self.judged_shifts:
                    self.judged_shifts.add((a, b))
                    due.append((a, b))
        if not due:
            return []
        scope = {t: self.areas(t) for t in set(teams.values())}
        return patrol.team_shifts(self.state.patrol, teams, due, self.team_minimum, scope, unobserved)

    def period_starts(self, before: float) -> None:
        """A new period: forget the fixes before it (each unit's last one kept)."""
        patrol.prune(self.state.patrol, before)

    @property
    def visits(self) -> dict[str, float]:
        """Each cell's latest qualifying visit (the coverage rule's)."""
        return self.state.patrol.visits

