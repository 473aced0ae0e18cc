"""What the API shows, read from the store and the live state: plain functions of a database
connection (or Redis replies) and the city, returning JSON-ready dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import psycopg
import shapely

from assessment.standards import City, Standards
from assessment.uptime import camera_uptime
from geofence.grid import Level
from store.alerts import find
from store.registry import load_version, versions_between


@dataclass
class Registry:
    """The registry version in force, parsed once, with where each thing lies."""

    city: City
    teams: dict[str, str] = field(default_factory=dict)  # unit → its team (street)
    timezone: str = "Asia/Shanghai"
    district: dict[str, str | None] = field(default_factory=dict)  # any area, unit, camera, checkpoint → district

    @classmethod
    def load(cls, conn: psycopg.Connection, now: float, timezone: str = "Asia/Shanghai") -> "Registry | None":
        found = versions_between(conn, now, now + 1)
        if not found:
            return None
        doc = load_version(conn, found[-1][0])
        city = City.of(found[-1][0], doc)
        grid = city.grid
        district: dict[str, str | None] = {cid: grid.above(cid, Level.DISTRICT) for cid in grid.cells}
        teams = {u["id"]: u.get("team") for u in doc["units"]}
        for uid, team in teams.items():
            district[uid] = district.get(team) if team else None
        for cam, cell in zip(city.cameras, city.camera_cells, strict=True):
            district[cam.id] = district.get(cell) if cell else None
        for cp, cell in zip(city.checkpoints, city.checkpoint_cells, strict=True):
            district[cp.id] = district.get(cell) if cell else None
        return cls(city, teams, timezone, district)


def _float(v: bytes | str | None) -> float | None:
    if v in (None, b"", ""):
        return None
    return float(v)


def _text(v: bytes | str | None) -> str | None:
    if v in (None, b"", ""):
        return None
    return v.decode() if isinstance(v, bytes) else v


def _round(v: float | None, digits: int) -> float | None:
    """Positions to 6 decimals (0.1 m), times to the millisecond: the answer no longer than it needs."""
    return None if v is None else round(v, digits)


def unit_row(reg: Registry, uid: str, kind: str, st: dict) -> dict[str, Any]:
    """A unit of the registry with its live state (its Redis hash, or empty), but for its age."""
    return {"unit_id": uid, "kind": kind, "team": reg.teams.get(uid), "district": reg.district.get(uid),
            "ts": _round(_float(st.get(b"ts")), 3), "lat": _round(_float(st.get(b"lat")), 6),
            "lon": _round(_float(st.get(b"lon")), 6), "speed_mps": _round(_float(st.get(b"spd")), 1),
            "cell_id": _text(st.get(b"cell")), "officers": [o for o in (_text(st.get(b"officers")) or "").split(",") if o]}


def aged(row: dict[str, Any], now: float, stale_after_s: float) -> dict[str, Any]:
    """The row with its age now and whether that makes it stale."""
    age = None if row["ts"] is None else max(0.0, now - row["ts"])
    return {**row, "age_s": None if age is None else round(age, 1), "stale": age is None or age > stale_after_s}


def track(conn: psycopg.Connection, unit_id: str, start: float, end: float, max_points: int = 2000) -> dict[str, Any]:
    """A unit's fixes over [start, end) as a GeoJSON Feature (LineString, a Point for one fix):
    simplified (Douglas–Peucker, topology kept) until at most `max_points` remain."""
    rows = conn.execute("SELECT extract(epoch FROM ts)::float8, lon, lat FROM pingan.patrol_ping WHERE unit_id = %s "
                        "AND ts >= to_timestamp(%s) AND ts < to_timestamp(%s) ORDER BY ts", (unit_id, start, end)).fetchall()
    conn.commit()
    props: dict[str, Any] = {"unit_id": unit_id, "from": start, "to": end, "fixes": len(rows), "simplified": False}
    if not rows:
        return {"type": "Feature", "geometry": None, "properties": {**props, "times": []}}
    a = np.array(rows, dtype=float)
    if len(a) == 1:
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [a[0, 1], a[0, 2]]},
                "properties": {**props, "times": [a[0, 0]]}}
    keep = np.arange(len(a))
    if len(a) > max_points:  # time as a third coordinate, so that the kept vertices keep their times
        tol = 1e-5
        line = shapely.LineString(a[:, [1, 2, 0]])
        while True:
            simple = shapely.simplify(line, tol, preserve_topology=False)
            if len(simple.coords) <= max_points:
                break
            tol *= 2
        times = np.asarray(simple.coords)[:, 2]
        keep = np.searchsorted(a[:, 0], times)
        props["simplified"] = True
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": a[keep][:, [1, 2]].round(7).tolist()},
            "properties": {**props, "times": a[keep, 0].tolist()}}


def camera_rows(conn: psycopg.Connection, reg: Registry, std: Standards, states: Iterable[dict], faults: dict[str, list],
                now: float, uptime: bool = True) -> list[dict[str, Any]]:
    """Cameras with their live status, their open image faults and time-based uptime (24 h, 7 d)."""
    cams = reg.city.cameras
    day = week = [None] * len(cams)
    if uptime and cams:
        day = [u.uptime for u in camera_uptime(conn, cams, std, now - 86_400, now, now, store=False)]
        week = [u.uptime for u in camera_uptime(conn, cams, std, now - 7 * 86_400, now, now, store=False)]
        conn.commit()
    out = []
    for cam, cell, st, d, w in zip(cams, reg.city.camera_cells, states, day, week, strict=True):
        seen, said_at = _float(st.get(b"last_seen")), _float(st.get(b"status_ts"))
        if said_at is not None and (seen is None or said_at >= seen):  # its newest word: a status message …
            online: bool | None = _text(st.get(b"status")) == "online"
        else:  # … or a heartbeat
            online = None if _text(st.get(b"online")) is None else _text(st.get(b"online")) == "1"
        out.append({"camera_id": cam.id, "name": cam.name, "category": str(cam.category), "lon": cam.lon,
                    "lat": cam.lat, "cell_id": cell, "district": reg.district.get(cam.id),
                    "online": online, "last_seen": seen,
                    "fps": _float(st.get(b"fps")), "image_faults": sorted(faults.get(cam.id, [])),
                    "uptime_24h": None if d is None else round(d, 6), "uptime_7d": None if w is None else round(w, 6)})
    return out


def cell_features(conn: psycopg.Connection, reg: Registry, std: Standards, now: float,
                  districts: frozenset[str] = frozenset(), visits: dict[str, float] | None = None) -> dict[str, Any]:
    """The grid cells as GeoJSON with their live coverage state: the time since a unit was last
    there against the cell's revisit interval, and an open coverage gap.

    "Last there" is the end of the cell's latest qualifying visit (dwell included, the coverage
    rule's) as the alert service publishes them (`visits`); where it does not run, the latest
    fix in the cell of the last 24 h (`basis` says which).

    state: ``gap`` (a coverage_gap alert is open), ``due`` (past three quarters of its revisit
    interval since a unit was last there), ``ok``, or ``unknown`` (none there in 24 h)."""
    last = dict(conn.execute("SELECT cell_id, extract(epoch FROM max(ts))::float8 FROM pingan.patrol_ping "
                             "WHERE ts >= to_timestamp(%s) AND cell_id IS NOT NULL GROUP BY cell_id",
                             (now - 86_400,)).fetchall())
    gaps = {a["subject"]: a for a in _open(conn, "coverage_gap")}
    conn.commit()
    basis = "fix" if visits is None else "visit"
    features = []
    for c in reg.city.grid.leaves:
        where = reg.district.get(c.id)
        if districts and where not in districts:
            continue
        revisit = 60 * (c.revisit_minutes or std.patrol.revisit_minutes[c.priority])
        at = last.get(c.id)
        there = at if visits is None else visits.get(c.id)
        since = None if there is None or there < now - 86_400 else max(0.0, now - there)
        state = ("gap" if c.id in gaps else "unknown" if since is None else "due" if since > 0.75 * revisit else "ok")
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(c.geometry),
                         "properties": {"cell_id": c.id, "name": c.name, "street": c.parent, "district": where,
                                        "priority": str(c.priority), "revisit_s": revisit, "last_fix_at": at,
                                        "last_visit_at": None if visits is None else visits.get(c.id), "basis": basis,
                                        "since_s": None if since is None else round(since, 1), "state": state,
                                        "gap_since": gaps[c.id]["since"] if c.id in gaps else None}})
    return {"type": "FeatureCollection", "features": features}


def _open(conn: psycopg.Connection, kind: str) -> list[dict[str, Any]]:
    return find(conn, state="active", type=kind, limit=1_000_000)


def checkpoint_rows(conn: psycopg.Connection, reg: Registry, now: float) -> list[dict[str, Any]]:
    """Checkpoints with the officers checked in now (their latest check-in of the last 24 h is
    "on") against ``min_staff``, and whether it is within its schedule now."""
    from geofence.schedule import schedule_windows

    rows = conn.execute("SELECT DISTINCT ON (checkpoint_id, officer) checkpoint_id, officer, action FROM pingan.checkin "
                        "WHERE ts >= to_timestamp(%s) AND ts <= to_timestamp(%s) ORDER BY checkpoint_id, officer, ts DESC",
                        (now - 86_400, now)).fetchall()
    conn.commit()
    present: dict[str, list[str]] = {}
    for cp, officer, action in rows:
        if action == "on":
            present.setdefault(cp, []).append(officer)
    out = []
    for cp, cell in zip(reg.city.checkpoints, reg.city.checkpoint_cells, strict=True):
        scheduled = bool(schedule_windows(cp.schedule, now, now + 1, reg.timezone)) if cp.schedule else True
        staff = sorted(present.get(cp.id, []))
        out.append({"checkpoint_id": cp.id, "name": cp.name, "lon": cp.lon, "lat": cp.lat, "cell_id": cell,
                    "district": reg.district.get(cp.id), "min_staff": cp.min_staff, "scheduled_now": scheduled,
                    "officers": staff, "staffed": len(staff) >= cp.min_staff or not scheduled})
    return out


