"""`pingan coverage`: read a period from the store, compute, and present the result."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
from tqdm import tqdm

from geofence.coverage import (
    CellCoverage,
    CellStatus,
    DefenceStandard,
    LevelCoverage,
    PatrolStandard,
    defence_status,
    leaf_areas,
    patrol_coverage,
    roll_up,
)
from geofence.grid import Level, Priority
from geofence.lookup import CellIndex
from geofence.staffing import checkpoint_staffing, clock_time
from store.queries import camera_uptime, checkpoints_with_checkins, load_tracks, unit_count
from store.registry import load_grid

from .config import CoverageSettings

TARGET = 0.90  # the city's "defence-system coverage ≥ 90%" indicator


class CoverageError(Exception):
    pass


@dataclass(frozen=True)
class CoverageReport:
    start: float
    end: float
    timezone: str
    level: Level
    by: str
    areas: list[LevelCoverage]
    names: dict[str, str]
    patrol: dict[str, CellCoverage]
    status: dict[str, CellStatus]


def standards(c: CoverageSettings) -> tuple[PatrolStandard, DefenceStandard]:
    patrol = PatrolStandard(max_gap_s=c.max_gap_s, step_m=c.step_m,
                            min_dwell_s={"foot": c.min_dwell_foot_s, "bike": c.min_dwell_bike_s, "car": c.min_dwell_car_s},
                            revisit_minutes={Priority.KEY: c.revisit_key_minutes, Priority.NORMAL: c.revisit_normal_minutes},
                            active_from=clock_time(c.active_from), active_to=clock_time(c.active_to), timezone=c.timezone)
    return patrol, DefenceStandard(c.min_camera_uptime, c.min_checkpoint_compliance)


def parse_time(text: str, tz: str) -> float:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise CoverageError(f"{text!r} is not a date or date-time (e.g. 2026-11-20 or 2026-11-20T08:00)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t.timestamp()


def compute(db_url: str, start_text: str, end_text: str, level: str, by: str,
            patrol_std: PatrolStandard | None = None, defence_std: DefenceStandard | None = None,
            ) -> CoverageReport:
    patrol_std = patrol_std or PatrolStandard()
    defence_std = defence_std or DefenceStandard()
    start, end = parse_time(start_text, patrol_std.timezone), parse_time(end_text, patrol_std.timezone)
    if end <= start:
        raise CoverageError("--to must be after --from")
    try:
        conn = psycopg.connect(db_url)
    except psycopg.OperationalError as e:
        raise CoverageError(f"cannot reach the database: {e}") from None
    with conn:
        try:
            grid = load_grid(conn)
        except psycopg.errors.UndefinedTable:
            raise CoverageError("the database has no Pingan schema: run `pingan migrate`") from None
        if grid is None:
            raise CoverageError("no grid in the database: run `pingan migrate` with grid.path set")
        index = CellIndex(grid.leaves)
        lo, hi = start - patrol_std.max_gap_s, end + patrol_std.max_gap_s  # segments crossing the edges
        with tqdm(total=unit_count(conn, lo, hi), desc="reading tracks", unit="unit", file=sys.stderr,
                  disable=None, leave=False) as bar:
            tracks, crews = load_tracks(conn, lo, hi, bar.update)
        patrol = patrol_coverage(grid, index, tracks, start, end, patrol_std)
        cameras = camera_uptime(conn, start, end)
        staffing: dict[str, list[tuple[str, float | None]]] = {}
        for cp, cell_id, events in checkpoints_with_checkins(conn, start, end):
            if cell_id is not None:
                s = checkpoint_staffing(cp, crews, events, start, end, patrol_std.timezone)
                staffing.setdefault(cell_id, []).append((cp.id, s.compliance))
    status = defence_status(patrol, cameras, staffing, defence_std)
    areas = roll_up(grid, status, Level(level), leaf_areas(grid) if by == "area" else None)
    return CoverageReport(start, end, patrol_std.timezone, Level(level), by, areas,
                          {c.id: c.name for c in grid.cells.values()}, patrol, status)


def render_table(r: CoverageReport) -> str:
    tz = ZoneInfo(r.timezone)
    fmt = "%Y-%m-%d %H:%M"
    lines = [f"Coverage {datetime.fromtimestamp(r.start, tz).strftime(fmt)} → "
             f"{datetime.fromtimestamp(r.end, tz).strftime(fmt)} ({r.timezone}), {r.level} level, "
             f"weighted by cell {r.by}",
             f"{'area':<14} {'name':<22} {'cells':>6} {'covered':>8} {'unknown':>8} {'not covered':>12}"]
    for a in r.areas:
        lines.append(f"{a.area_id:<14} {r.names.get(a.area_id, '')[:22]:<22} {a.cells:>6} {a.covered:>8.1%} "
                     f"{a.unknown:>8.1%} {a.not_covered:>12.1%}")
    below = [a.area_id for a in r.areas if a.covered < TARGET]
    lines.append(f"target ≥ {TARGET:.0%} covered: {len(r.areas) - len(below)} of {len(r.areas)} met"
                 + (f" (below: {', '.join(below[:10])}{'…' if len(below) > 10 else ''})" if below else ""))
    return "\n".join(lines)


def render_json(r: CoverageReport) -> str:
    return json.dumps({
        "from": r.start, "to": r.end, "timezone": r.timezone, "level": str(r.level), "by": r.by,
        "areas": [{"id": a.area_id, "name": r.names.get(a.area_id), "cells": a.cells, "covered": a.covered,
                   "unknown": a.unknown, "not_covered": a.not_covered} for a in r.areas],
        "cells": {cid: {"status": str(r.status[cid]), "patrol": str(p.status), "visits": p.visits,
                        "longest_gap_s": p.longest_gap_s, "revisit_s": p.revisit_s}
                  for cid, p in sorted(r.patrol.items())},
    }, ensure_ascii=False, indent=1)
