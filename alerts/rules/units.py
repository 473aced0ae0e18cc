"""Patrol units: silent, and out of their team's area.

- **Silent**: a unit on duty (it signed on, or has not signed off) whose latest fix is more than
  ``max_gap_s`` old — the coverage rule's limit past which a unit's whereabouts are unknown. It
  holds from the moment the limit passed; a unit that signed off duty is not expected to talk.
  After a stretch in which the ingest was not receiving the silence is counted afresh from its end.
- **Out of area**: a unit on duty whose fix lies outside its team's street/township (or outside
  the grid), when the team is an area of the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from alerts.types import AlertType
from store.records import DeviceStatus, PatrolFix

from . import NOTHING_MISSED, Condition, level, silence_from

T = AlertType


@dataclass(frozen=True)
class UnitParams:
    max_gap_s: float = 300.0


@dataclass
class UnitState:
    unit_id: str
    team_area: str | None = None  # the grid area of the unit's team, when it is one
    scope: Mapping[str, str] = field(default_factory=dict)
    last_fix: float = -math.inf
    cell: str | None = None  # of the latest fix
    on_duty: bool | None = None  # None: never said
    duty_ts: float = -math.inf


def on_fix(st: UnitState, f: PatrolFix, areas_of_cell: Mapping[str, tuple[str, ...]], p: UnitParams) -> list[Condition]:
    if f.ts <= st.last_fix:
        return []  # a late fix is stored, but the unit's latest state stays
    st.last_fix, st.cell = f.ts, f.cell_id
    out = [level(T.UNIT_SILENT, st.unit_id, False, f.ts, f.ts, st.scope)]
    if st.team_area is not None:
        outside = f.cell_id is None or st.team_area not in areas_of_cell.get(f.cell_id, ())
        out.append(level(T.UNIT_OUT_OF_AREA, st.unit_id, outside and st.on_duty is not False, f.ts, f.ts, st.scope,
                         {"cell": f.cell_id, "area": st.team_area, "lat": f.lat, "lon": f.lon}))
    return out


def on_duty(st: UnitState, s: DeviceStatus, p: UnitParams) -> list[Condition]:
    """The unit signed on or off duty."""
    if s.ts <= st.duty_ts:
        return []
    st.on_duty, st.duty_ts = s.online, s.ts
    if not s.online:
        return [level(T.UNIT_SILENT, st.unit_id, False, s.ts, s.ts, st.scope),
                level(T.UNIT_OUT_OF_AREA, st.unit_id, False, s.ts, s.ts, st.scope)]
    return on_tick(st, s.ts, p)


def silent_since(st: UnitState, now: float, p: UnitParams,
                 missed: tuple[float, float] = NOTHING_MISSED) -> float | None:
    if st.on_duty is False and st.duty_ts >= st.last_fix:
        return None
    if st.last_fix > -math.inf:
        heard = silence_from(st.last_fix, p.max_gap_s, missed)
        if now - heard > p.max_gap_s:
            return heard + p.max_gap_s
    return None


def on_tick(st: UnitState, now: float, p: UnitParams, missed: tuple[float, float] = NOTHING_MISSED) -> list[Condition]:
    """missed: the latest stretch in which the ingest was not receiving (``silence_from``)."""
    since = silent_since(st, now, p, missed)
    return [level(T.UNIT_SILENT, st.unit_id, since is not None, since if since is not None else now, now, st.scope,
                  {"last_fix": st.last_fix if st.last_fix > -math.inf else None, "cell": st.cell})]
