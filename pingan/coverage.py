"""`pingan coverage`: assess a period from the store and present it (table, --explain, JSON)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator
from zoneinfo import ZoneInfo

import psycopg

from assessment.defence import TARGET, Assessor, CellResult, CoverageError, PeriodResult
from assessment.periods import PeriodError, parse_period, rfc3339
from assessment.standards import Standards
from geofence.coverage import DefenceStandard, LevelCoverage, PatrolStandard
from geofence.grid import Level, Priority
from geofence.schedule import clock_time
from store.migrate import uses_timescale

from .config import CoverageSettings


def standards(c: CoverageSettings) -> Standards:
    patrol = PatrolStandard(max_gap_s=c.max_gap_s, step_m=c.step_m,
                            min_dwell_s={"foot": c.min_dwell_foot_s, "bike": c.min_dwell_bike_s, "car": c.min_dwell_car_s},
                            revisit_minutes={Priority.KEY: c.revisit_key_minutes, Priority.NORMAL: c.revisit_normal_minutes},
                            active_from=clock_time(c.active_from), active_to=clock_time(c.active_to), timezone=c.timezone)
    return Standards(patrol, DefenceStandard(c.min_camera_uptime, c.min_checkpoint_compliance),
                     dict(c.camera_heartbeat_s), c.camera_missed_heartbeats)


@contextmanager
def assessed(db_url: str, start_text: str, end_text: str, std: Standards, *, progress: bool = False,
             now: float | None = None) -> Iterator[tuple[Assessor, PeriodResult]]:
    """The period assessed from the store, with the connection its names and figures come from
    open while the caller presents it (closed after); CoverageError with the reason when it cannot be."""
    now = time.time() if now is None else now
    try:
        start, end, note = parse_period(start_text, end_text, std.timezone, now)
    except PeriodError as e:
        raise CoverageError(str(e)) from None
    try:
        conn = psycopg.connect(db_url)
    except psycopg.OperationalError as e:
        raise CoverageError(f"cannot reach the database: {e}") from None
    with conn:
        try:
            timescale = uses_timescale(conn)
        except psycopg.errors.UndefinedTable:
            raise CoverageError("the database has no Pingan schema: run `pingan migrate`") from None
        assessor = Assessor(conn, std, timescale=timescale, progress=progress, clock=lambda: now)
        result = assessor.period(start, end)
        if note:
            result.notes.append(note)
        yield assessor, result


def _hhmm(seconds: float) -> str:
    m = int(round(seconds / 60))
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def render_table(a: Assessor, r: PeriodResult, level: Level, by: str, explain: bool = False) -> str:
    tz = ZoneInfo(r.timezone)
    fmt = "%Y-%m-%d %H:%M"
    areas = a.areas(r, level, by)
    names = a.names(r)
    lines = [f"Coverage {datetime.fromtimestamp(r.start, tz).strftime(fmt)} → "
             f"{datetime.fromtimestamp(r.end, tz).strftime(fmt)} ({r.timezone}), {level} level, weighted by cell {by}"
             + ("" if r.detail else f", {len(r.parts)} parts ({r.stored_parts} from stored days)"),
             *(f"note: {n}" for n in r.notes),
             f"ingest receiving {r.observed_s / r.seconds:.1%} of the period; registry version(s) "
             f"{', '.join(map(str, sorted(r.shares)))}",
             f"{'area':<14} {'name':<22} {'cells':>6} {'covered':>8} {'unknown':>8} {'not covered':>12}"]
    for x in areas:
        lines.append(f"{x.area_id:<14} {names.get(x.area_id, '')[:22]:<22} {x.cells:>6} {x.covered:>8.1%} "
                     f"{x.unknown:>8.1%} {x.not_covered:>12.1%}")
    below = [x.area_id for x in areas if x.covered < TARGET]
    lines.append(f"target ≥ {TARGET:.0%} covered: {len(areas) - len(below)} of {len(areas)} met"
                 + (f" (below: {', '.join(below[:10])}{'…' if len(below) > 10 else ''})" if below else ""))
    if explain:
        lines.append("")
        if r.detail is None:
            lines.append("cell           covered  unknown  not covered   (shares of the period; --explain per cell "
                         "needs a period of at most 24 h)")
            for cid, sh in r.cell_shares().items():
                lines.append(f"{cid:<14} {sh['covered']:>7.1%} {sh['unknown']:>8.1%} {sh['not_covered']:>12.1%}")
        else:
            for c in sorted(r.detail.cells.values(), key=lambda c: c.cell_id):
                lines.append(_explain(c, r.timezone))
    return "\n".join(lines)


def _explain(c: CellResult, tz: str) -> str:
    p = c.patrol
    clock = "%H:%M"
    zone = ZoneInfo(tz)
    gap = (f"{datetime.fromtimestamp(p.gap_from, zone).strftime(clock)} → "
           f"{datetime.fromtimestamp(p.gap_to, zone).strftime(clock)}") if p.gap_from is not None else ""
    why = f"; unknown: {p.unknown_because}" if p.unknown_because else ""
    parts = [f"patrol {p.status}: {p.visits} visit(s), longest gap {_hhmm(p.longest_gap_s)} ({gap}) against "
             f"{_hhmm(p.revisit_s)}{why}"]
    for k in c.cameras:
        parts.append(f"camera {k.camera_id} ({k.category}) {k.status}: up {_pct(k.uptime)} of the known time, "
                     f"down {_hhmm(k.down_s)}, unknown {_hhmm(k.unknown_s)}, {k.outages} outage(s)")
    for k in c.checkpoints:
        s = k.staffing
        parts.append(f"checkpoint {k.checkpoint_id} {k.status}: staffed {s.staffed_minutes} of {s.required_minutes} "
                     f"scheduled minutes ({_pct(s.compliance)}), {s.unknown_minutes} unknown")
    return f"{c.cell_id:<14} {c.status}\n" + "\n".join(f"    {x}" for x in parts)


def render_json(a: Assessor, r: PeriodResult, level: Level, by: str) -> str:
    tz = r.timezone
    areas = a.areas(r, level, by)
    names = a.names(r)
    shares = r.cell_shares()

    def area(x: LevelCoverage) -> dict:
        return {"id": x.area_id, "name": names.get(x.area_id), "cells": x.cells, "covered": x.covered,
                "unknown": x.unknown, "not_covered": x.not_covered, "meets_target": bool(x.covered >= TARGET)}

    cells: dict[str, dict] = {}
    for cid, sh in shares.items():
        cells[cid] = {"covered": sh["covered"], "unknown": sh["unknown"], "not_covered": sh["not_covered"]}
    if r.detail is not None:
        for cid, c in r.detail.cells.items():
            cells[cid].update(_cell_json(c, tz))
    return json.dumps({
        "from": rfc3339(r.start, tz), "to": rfc3339(r.end, tz), "timezone": tz, "level": str(level), "by": by,
        "target": TARGET,
        "data": {"ingest_receiving": r.observed_s / r.seconds, "parts": len(r.parts),
                 "parts_from_stored_days": r.stored_parts, "registry_versions": sorted(r.shares), "notes": r.notes},
        "areas": [area(x) for x in areas],
        "cells": dict(sorted(cells.items())),
    }, ensure_ascii=False, indent=1)


def _cell_json(c: CellResult, tz: str) -> dict:
    p = c.patrol

    def when(t: float | None) -> str | None:
        return None if t is None else rfc3339(t, tz)

    return {
        "status": str(c.status),
        "patrol": {"status": str(p.status), "visits": p.visits, "longest_gap_s": round(p.longest_gap_s, 1),
                   "longest_gap": {"from": when(p.gap_from), "to": when(p.gap_to)}, "revisit_s": p.revisit_s,
                   "unknown_because": p.unknown_because},
        "cameras": [{"id": k.camera_id, "category": k.category, "status": str(k.status), "uptime": k.uptime,
                     "up_s": round(k.up_s, 1), "down_s": round(k.down_s, 1), "unknown_s": round(k.unknown_s, 1),
                     "outages": k.outages} for k in c.cameras],
        "checkpoints": [{"id": k.checkpoint_id, "status": str(k.status), "compliance": k.staffing.compliance,
                         "required_minutes": k.staffing.required_minutes,
                         "staffed_minutes": k.staffing.staffed_minutes,
                         "unknown_minutes": k.staffing.unknown_minutes,
                         "understaffed": [{"from": when(a), "to": when(b), "fewest": n}
                                          for a, b, n in k.staffing.understaffed]} for k in c.checkpoints],
    }


def summary(a: Assessor, r: PeriodResult) -> dict:
    """The product's figures for a one-part period, in the shape the ground truth is compared with."""
    if r.detail is None:
        raise ValueError("a summary needs a period assessed as one part")
    cells = {cid: {"status": str(c.status), "patrol": str(c.patrol.status),
                   "cameras": None if c.camera_status is None else str(c.camera_status),
                   "checkpoints": None if c.checkpoint_status is None else str(c.checkpoint_status)}
             for cid, c in r.detail.cells.items()}
    cameras = {k.camera_id: k.uptime for c in r.detail.cells.values() for k in c.cameras}
    checkpoints = {k.checkpoint_id: k.staffing.compliance for c in r.detail.cells.values() for k in c.checkpoints}
    areas = {str(level): {x.area_id: x.covered for x in a.areas(r, level)}
             for level in (Level.STREET, Level.DISTRICT, Level.CITY)}
    return {"cells": cells, "cameras": cameras, "checkpoints": checkpoints, "areas": areas}
