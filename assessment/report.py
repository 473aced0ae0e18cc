"""The quarterly assessment's figures, assembled from the stored days.

For every district and street/township of a period: the composite defence-system coverage
(``Assessor.areas``: the share of the area's cell-time covered, by cell count) against 90%, and
its three parts, each with its unknown share beside it, never folded into "covered":

- **patrol**: the share of the area's cell-time whose patrol status (revisit standard) was
  covered / unknown / not covered;
- **key cameras**: time-based availability of the key-location cameras in the area's cells —
  seconds up over seconds up + down + unknown; unknown over the same;
- **checkpoints**: staffing compliance — staffed minutes over required (scheduled) minutes;
  unknown minutes over the same.

The figures are sums over the stored daily results (``pingan.coverage_daily``: per cell and day
its statuses, and per camera and checkpoint the seconds and minutes behind them); the days the
assessment had to compute now (not yet settled, so not stored) are summed the same way from
memory. Nothing is recomputed from raw fixes for a stored day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import psycopg

from geofence.grid import Level
from store.queries import read_observed

from .defence import Assessor, PeriodResult, meets_target


@dataclass(frozen=True)
class Share:
    """What part of a whole was met, unknown and not met (shares of `of`, in its unit)."""

    met: float
    unknown: float
    not_met: float
    of: float  # cell-seconds, camera-seconds or required minutes

    @classmethod
    def of_sums(cls, met: float, unknown: float, not_met: float) -> "Share | None":
        total = met + unknown + not_met
        return None if total <= 0 else cls(met / total, unknown / total, not_met / total, total)


@dataclass(frozen=True)
class AreaFigures:
    area_id: str
    name: str
    level: str
    cells: int
    coverage: Share  # the composite defence-system coverage
    patrol: Share | None
    cameras: Share | None  # None: no key camera in the area
    checkpoints: Share | None  # None: no checkpoint in the area
    outages: int  # key cameras' outages begun in the period

    @property
    def meets(self) -> bool | None:
        """The 90% standard: met on what is known covered; not met only when the unknown share
        could not make it up; else unknown (None)."""
        return meets_target(self.coverage.met, self.coverage.unknown)


@dataclass
class CellSums:
    """One cell's sums over the period: patrol seconds (covered, unknown, not covered), key
    cameras' seconds (up, unknown, down) and outages, checkpoints' minutes (staffed, unknown, short)."""

    patrol: np.ndarray = field(default_factory=lambda: np.zeros(3))
    cameras: np.ndarray = field(default_factory=lambda: np.zeros(3))
    outages: int = 0
    checkpoints: np.ndarray = field(default_factory=lambda: np.zeros(3))


_PATROL = {"covered": 0, "unknown": 1, "not_covered": 2}


def stored_sums(conn: psycopg.Connection, start: float, end: float, standard: str, days: list
                ) -> dict[tuple[int, str], CellSums]:
    """Per (version, cell): the sums over the stored days given, done by the database."""
    out: dict[tuple[int, str], CellSums] = defaultdict(CellSums)
    where = ("day = ANY(%(days)s) AND part_from >= to_timestamp(%(start)s) AND part_to <= to_timestamp(%(end)s) "
             "AND standard = %(standard)s")
    args = {"days": days, "start": start, "end": end, "standard": standard}
    secs = "date_part('epoch', part_to - part_from)"
    for version, cell, c, u, n in conn.execute(
            f"SELECT version, cell_id, sum({secs}) FILTER (WHERE patrol = 'covered'), "
            f"sum({secs}) FILTER (WHERE patrol = 'unknown'), sum({secs}) FILTER (WHERE patrol = 'not_covered') "
            f"FROM pingan.coverage_daily WHERE {where} GROUP BY version, cell_id", args):
        out[version, cell].patrol += [c or 0.0, u or 0.0, n or 0.0]
    for version, cell, up, down, unknown, outages in conn.execute(
            "SELECT version, cell_id, sum((v->>0)::float8), sum((v->>1)::float8), sum((v->>2)::float8), "
            "sum((v->>3)::int) FROM pingan.coverage_daily, jsonb_each(detail->'cameras') AS e(k, v) "
            f"WHERE {where} AND cameras IS NOT NULL GROUP BY version, cell_id", args):  # (a key camera: a status)
        s = out[version, cell]
        s.cameras += [up, unknown, down]
        s.outages += int(outages)
    for version, cell, required, staffed, unknown in conn.execute(
            "SELECT version, cell_id, sum((v->>0)::float8), sum((v->>1)::float8), sum((v->>2)::float8) "
            "FROM pingan.coverage_daily, jsonb_each(detail->'checkpoints') AS e(k, v) "
            f"WHERE {where} AND checkpoints IS NOT NULL GROUP BY version, cell_id", args):
        out[version, cell].checkpoints += [staffed, unknown, max(0.0, required - staffed - unknown)]
    conn.commit()
    return out


def add_rows(into: dict[tuple[int, str], CellSums], version: int, seconds: float, rows: Iterable[dict]) -> None:
    """A part assessed now (not stored), summed the same way as the stored days."""
    for r in rows:
        s = into[version, r["cell_id"]]
        s.patrol[_PATROL[r["patrol"]]] += seconds
        for up, down, unknown, outages in r["detail"]["cameras"].values():
            s.cameras += [up, unknown, down]
            s.outages += outages
        for required, staffed, unknown in r["detail"]["checkpoints"].values():
            s.checkpoints += [staffed, unknown, max(0.0, required - staffed - unknown)]


def assessment(a: Assessor, result: PeriodResult, levels: Iterable[Level] = (Level.DISTRICT, Level.STREET)
               ) -> list[AreaFigures]:
    """Every area of the levels: its composite coverage and its three parts."""
    sums = stored_sums(a.conn, result.start, result.end, a.std.digest(), result.stored_days)
    for version, seconds, rows in result.computed:
        add_rows(sums, version, seconds, rows)
    by_area: dict[str, CellSums] = defaultdict(CellSums)
    for (version, cell), s in sums.items():
        grid = a.city(version).grid
        for area in grid.ancestors.get(cell, ()):
            t = by_area[area]
            t.patrol += s.patrol
            t.cameras += s.cameras
            t.outages += s.outages
            t.checkpoints += s.checkpoints
    names = a.names(result)
    out = []
    for level in levels:
        for x in a.areas(result, level):
            s = by_area.get(x.area_id, CellSums())
            out.append(AreaFigures(
                x.area_id, names.get(x.area_id, x.area_id), str(level), x.cells,
                Share(x.covered, x.unknown, x.not_covered, x.weight), Share.of_sums(*s.patrol),
                Share.of_sums(*s.cameras), Share.of_sums(*s.checkpoints), s.outages))
    return out


def completeness(conn, city, start: float, end: float) -> dict[str, str]:
    """What the data behind a report covered, for its about section: the ingest receiving, the
    registry's units and cameras heard from (the others silent all the period)."""
    observed = sum(b - a for a, b in read_observed(conn, start, end))
    heard = {}
    for name, table, column, registered in (("units", "patrol_ping", "unit_id", set(city.kinds)),
                                            ("cameras", "camera_health", "camera_id", {c.id for c in city.cameras})):
        got = {r[0] for r in conn.execute(f"SELECT DISTINCT {column} FROM pingan.{table} WHERE ts >= to_timestamp(%s) "
                                          "AND ts < to_timestamp(%s)", (start, end))}
        heard[f"{name} heard"] = f"{len(got & registered)} of {len(registered)} registered " \
                                 f"({len(registered - got)} silent)"
    conn.commit()
    return {"ingest receiving": f"{observed / (end - start):.1%} of the period", **heard}
