"""Defence-system coverage of a period, read from the store.

A period is cut into parts (``assessment.periods``): each part is assessed on the registry
version in force during it — patrol coverage from the fixes (``geofence.coverage``), key
camera uptime by time (``assessment.uptime``), checkpoint staffing (``geofence.staffing``) —
and the cell's status composed from the three. Time in which the ingest was not receiving
is unknown in every part. A whole day of the city's calendar, once closed, is stored in
``pingan.coverage_daily`` and read back from there (until late data makes it stale), so a
quarter or a year is assembled from stored days.

Over several parts a cell's coverage is the share of the period's time it was covered; an
area's is the same share over its cells, by count or by area.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import psycopg
from tqdm import tqdm

from geofence.coverage import (
    CellCoverage,
    CellStatus,
    LevelCoverage,
    Track,
    combine,
    patrol_coverage,
    roll_up,
    verdict,
)
from geofence.grid import Level
from geofence.spans import complement
from geofence.staffing import CheckinEvent, CrewFix, Staffing, checkpoint_staffing
from store.queries import (
    Fixes,
    has_data,
    officers_at,
    read_checkins,
    read_fixes,
    read_observed,
    unit_kinds,
)
from store.registry import load_version, versions_between
from store.results import day_shares, stored_days, write_day

from .periods import Part, PeriodError, rfc3339, split
from .standards import City, Standards
from .uptime import SETTLE_S, CameraUptime, camera_uptime

log = logging.getLogger(__name__)

TARGET = 0.90  # the city's "defence-system coverage ≥ 90%" indicator


def meets_target(met: float, unknown: float, target: float = TARGET) -> bool | None:
    """Whether shares of a whole meet a target, by the three-valued rule of the parts (``verdict``):
    True, False, or None where the unknown share decides it — missing data is never a failure."""
    status = verdict(met, unknown, 1.0, target - 1e-12)  # (shares of a whole)
    return None if status is CellStatus.UNKNOWN else status is CellStatus.COVERED


class CoverageError(Exception):
    """The period cannot be assessed; the message says why."""


@dataclass(frozen=True)
class CameraResult(CameraUptime):
    """A key camera's uptime in the period, where it stands, and its verdict."""

    category: str
    cell_id: str
    status: CellStatus


@dataclass(frozen=True)
class CheckpointResult:
    checkpoint_id: str
    cell_id: str
    staffing: Staffing
    status: CellStatus


@dataclass(frozen=True)
class CellResult:
    cell_id: str
    status: CellStatus
    patrol: CellCoverage
    cameras: tuple[CameraResult, ...] = ()
    checkpoints: tuple[CheckpointResult, ...] = ()

    @property
    def camera_status(self) -> CellStatus | None:
        return combine(c.status for c in self.cameras) if self.cameras else None

    @property
    def checkpoint_status(self) -> CellStatus | None:
        return combine(c.status for c in self.checkpoints) if self.checkpoints else None


@dataclass(frozen=True)
class PartResult:
    start: float
    end: float
    version: int
    cells: dict[str, CellResult]
    observed_s: float


@dataclass
class PeriodResult:
    start: float
    end: float
    timezone: str
    parts: list[Part]
    shares: dict[int, dict[str, np.ndarray]]  # version → cell → seconds (covered, not covered, unknown)
    observed_s: float
    detail: PartResult | None = None  # the one part of a period assessed as one piece
    stored_parts: int = 0
    notes: list[str] = field(default_factory=list)
    stored_days: list = field(default_factory=list)  # the stored days it was assembled from
    computed: list[tuple[int, float, list[dict]]] = field(default_factory=list)  # the parts computed now:
    # (version, seconds, their cells' rows as stored), kept when the assessor is asked to (keep_rows)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def cell_shares(self) -> dict[str, dict[CellStatus, float]]:
        """Per cell (of every version), the share of its assessed time in each status."""
        out: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
        for cells in self.shares.values():
            for cid, secs in cells.items():
                out[cid] = out[cid] + secs
        return {cid: {k: float(v / s.sum()) if s.sum() else 0.0 for k, v in zip(CellStatus, s, strict=True)}
                for cid, s in sorted(out.items())}


class Assessor:
    """Assesses periods on one database connection."""

    def __init__(self, conn: psycopg.Connection, standards: Standards, *, timescale: bool = False,
                 clock: Callable[[], float] = time.time, store: bool = True, progress: bool = False,
                 keep_rows: bool = False):
        self.conn = conn
        self.keep_rows = keep_rows
        self.std = standards
        self.timescale = timescale
        self.clock = clock
        self.store = store
        self.progress = progress
        self._cities: dict[int, City] = {}
        self._kinds: dict[str, str] | None = None
        self.timings: dict[str, float] = {}  # seconds spent in each step of the last part

    # -- the city of a version -------------------------------------------------------------------
    def city(self, version: int) -> City:
        if version not in self._cities:
            self._cities[version] = City.of(version, load_version(self.conn, version))
        return self._cities[version]

    def _kind(self, city: City, unit_id: str) -> str:
        if unit_id in city.kinds:
            return city.kinds[unit_id]
        if self._kinds is None:
            self._kinds = unit_kinds(self.conn)
        return self._kinds.get(unit_id, "car")

    # -- one part --------------------------------------------------------------------------------
    def part(self, start: float, end: float, version: int) -> PartResult:
        """Every cell of the version over [start, end), assessed from the raw data."""
        city = self.city(version)
        std = self.std
        now = self.clock()
        seen = read_observed(self.conn, start, end)
        blind = complement(seen, start, end)
        t0 = time.perf_counter()
        fixes = read_fixes(self.conn, start, end)
        t1 = time.perf_counter()
        tracks = (Track(fixes.unit_ids[i], self._kind(city, fixes.unit_ids[i]), fixes.ts[s], fixes.lon[s], fixes.lat[s])
                  for i, s in fixes.per_unit())
        patrol = patrol_coverage(city.grid, city.index, tracks, start, end, std.patrol, blind)
        t2 = time.perf_counter()
        keys = std.defence.key_camera_categories
        cams = [(c, cell) for c, cell in zip(city.cameras, city.camera_cells, strict=True)
                if cell is not None and str(c.category) in keys]
        ups = camera_uptime(self.conn, [c for c, _ in cams], std, start, end, now, timescale=self.timescale,
                            store=self.store)
        cameras: dict[str, list[CameraResult]] = defaultdict(list)
        for (cam, cell), u in zip(cams, ups, strict=True):
            total = u.up_s + u.down_s + u.unknown_s
            cameras[cell].append(CameraResult(cam.id, u.up_s, u.down_s, u.unknown_s, u.outages, str(cam.category),
                                              cell, verdict(u.up_s, u.unknown_s, total, std.defence.min_camera_uptime)))
        t3 = time.perf_counter()
        checkpoints = self._checkpoints(city, fixes, start, end, blind)
        t4 = time.perf_counter()
        cells = {}
        for cid, cov in patrol.items():
            cam, cps = tuple(cameras.get(cid, ())), tuple(checkpoints.get(cid, ()))
            cells[cid] = CellResult(cid, combine([cov.status, *(c.status for c in cam), *(c.status for c in cps)]),
                                    cov, cam, cps)
        self.timings = {"read": t1 - t0, "patrol": t2 - t1, "cameras": t3 - t2, "checkpoints": t4 - t3}
        log.debug("part %s → %s: %d fixes read in %.1f s; patrol %.1f s, cameras %.1f s, checkpoints %.1f s",
                  rfc3339(start, std.timezone), rfc3339(end, std.timezone), len(fixes), t1 - t0, t2 - t1,
                  t3 - t2, t4 - t3)
        return PartResult(start, end, version, cells, sum(b - a for a, b in seen))

    def _checkpoints(self, city: City, fixes: Fixes, start: float, end: float,
                     blind: list[tuple[float, float]]) -> dict[str, list[CheckpointResult]]:
        if not city.checkpoints:
            return {}
        inside = (fixes.ts >= start) & (fixes.ts < end)
        near = np.zeros(len(fixes), dtype=bool)
        for cp in city.checkpoints:  # a box a little larger than the circle; staffing measures exactly
            dlat = cp.radius_m / 110_000 * 1.1
            dlon = dlat / max(np.cos(np.radians(cp.lat)), 1e-6)
            near |= (np.abs(fixes.lat - cp.lat) <= dlat) & (np.abs(fixes.lon - cp.lon) <= dlon)
        idx = np.nonzero(near & inside)[0]
        officers = officers_at(self.conn, [fixes.unit_ids[u] for u in fixes.unit[idx]], fixes.ts[idx])
        crews = []
        for u in np.unique(fixes.unit[idx]):
            k = np.nonzero(fixes.unit[idx] == u)[0]
            crews.append(CrewFix(fixes.unit_ids[u], fixes.ts[idx[k]], fixes.lon[idx[k]], fixes.lat[idx[k]],
                                 [officers[j] for j in k]))
        checkins = read_checkins(self.conn, start, end)
        out: dict[str, list[CheckpointResult]] = defaultdict(list)
        for cp, cell in zip(city.checkpoints, city.checkpoint_cells, strict=True):
            if cell is None:
                continue
            events = [CheckinEvent(t, officer, action) for t, officer, action in checkins.get(cp.id, ())]
            s = checkpoint_staffing(cp, crews, events, start, end, self.std.timezone, blind)
            status = verdict(s.staffed_minutes, s.unknown_minutes, s.required_minutes,
                             self.std.defence.min_checkpoint_compliance)
            out[cell].append(CheckpointResult(cp.id, cell, s, status))
        return out

    # -- a period ----------------------------------------------------------------------------------
    def period(self, start: float, end: float, *, stored_only: bool = False) -> PeriodResult | None:
        """Assess [start, end): refused when no version was loaded or nothing at all is stored.
        stored_only: assembled from the stored days alone (whole city days, none stale), None
        when any part of the period is not one."""
        tz = self.std.timezone
        try:
            parts = split(start, end, versions_between(self.conn, start, end), tz)
        except PeriodError as e:
            raise CoverageError(str(e)) from None
        observed = sum(b - a for a, b in read_observed(self.conn, start, end))
        if not stored_only and not has_data(self.conn, start, end):
            raise CoverageError(
                f"nothing is stored for {rfc3339(start, tz)} → {rfc3339(end, tz)} (no fix, heartbeat, status or "
                f"check-in; the ingest was receiving {observed / (end - start):.0%} of it): there is nothing to assess")
        result = PeriodResult(start, end, tz, parts, {}, observed)
        if len(parts) == 1 and not stored_only:
            p = parts[0]
            result.detail = self.part(p.start, p.end, p.version)
            self._keep(p, result.detail, result)
            return result
        standard = self.std.digest()
        stored = {(d.day, d.part_from): d for d in stored_days(self.conn, start, end, standard)}
        reuse, todo = [], []
        for p in parts:
            d = stored.get((p.day, p.start)) if p.day else None
            if d is not None and d.version == p.version and d.cells == len(self.city(p.version).grid.leaves):
                reuse.append(p)
            else:
                todo.append(p)
        if stored_only and todo:
            return None
        for version, cells in day_shares(self.conn, start, end, standard, [p.day for p in reuse]).items():
            bucket = result.shares.setdefault(version, {})
            for cid, (c, u, n) in cells.items():
                bucket[cid] = bucket.get(cid, np.zeros(3)) + np.array([c, n, u])
        result.stored_parts = len(reuse)
        result.stored_days = [p.day for p in reuse]
        for p in tqdm(todo, desc="assessing", unit="part", file=sys.stderr, disable=not self.progress or None,
                      leave=False):
            self._keep(p, self.part(p.start, p.end, p.version), result)
        return result

    def _keep(self, p: Part, r: PartResult, into: PeriodResult) -> None:
        bucket = into.shares.setdefault(p.version, {})
        for cid, c in r.cells.items():
            bucket[cid] = bucket.get(cid, np.zeros(3)) + p.seconds * np.array(
                [c.status is CellStatus.COVERED, c.status is CellStatus.NOT_COVERED, c.status is CellStatus.UNKNOWN])
        rows = list(_rows(r)) if self.keep_rows else None
        if rows is not None:
            into.computed.append((p.version, p.seconds, rows))
        if self.store and p.day is not None and p.end <= self.clock() - SETTLE_S:
            write_day(self.conn, p.day, p.start, p.end, p.version, self.std.digest(), rows or _rows(r))

    # -- roll-ups ------------------------------------------------------------------------------------
    def areas(self, result: PeriodResult, level: Level, by: str = "count") -> list[LevelCoverage]:
        """Covered, unknown and not covered shares of every area of `level`, over the whole period
        (versions combined by their cells' assessed time)."""
        sums: dict[str, np.ndarray] = {}
        cells: dict[str, int] = {}
        order: list[str] = []
        for version, shares in sorted(result.shares.items()):
            city = self.city(version)
            status = {cid: dict(zip(CellStatus, secs, strict=True)) for cid, secs in shares.items()}
            for a in roll_up(city.grid, status, level, city.areas if by == "area" else None):
                if a.area_id not in sums:
                    order.append(a.area_id)
                    sums[a.area_id] = np.zeros(4)
                sums[a.area_id] += a.weight * np.array([a.covered, a.unknown, a.not_covered, 1.0])
                cells[a.area_id] = a.cells
        out = []
        for area_id in order:
            c, u, n, w = sums[area_id]
            out.append(LevelCoverage(area_id, level, cells[area_id], float(c / w) if w else 0.0,
                                     float(u / w) if w else 0.0, float(n / w) if w else 0.0, float(w)))
        return out

    def names(self, result: PeriodResult) -> dict[str, str]:
        out: dict[str, str] = {}
        for version in sorted(result.shares):
            out.update({c.id: c.name for c in self.city(version).grid.cells.values()})
        return out


def _rows(r: PartResult) -> Iterable[dict]:
    for c in r.cells.values():
        p = c.patrol
        yield {"cell_id": c.cell_id, "status": str(c.status), "patrol": str(p.status),
               "cameras": None if c.camera_status is None else str(c.camera_status),
               "checkpoints": None if c.checkpoint_status is None else str(c.checkpoint_status),
               "visits": p.visits, "longest_gap_s": p.longest_gap_s, "gap_from": p.gap_from, "gap_to": p.gap_to,
               "detail": {"cameras": {k.camera_id: [round(k.up_s), round(k.down_s), round(k.unknown_s), k.outages]
                                      for k in c.cameras},
                          "checkpoints": {k.checkpoint_id: [k.staffing.required_minutes, k.staffing.staffed_minutes,
                                                            k.staffing.unknown_minutes] for k in c.checkpoints},
                          "unknown_because": p.unknown_because}}
