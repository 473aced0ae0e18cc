"""What operators do to alerts — acknowledge, resolve by hand, silence, end a silence early —
with one set of rules for the command line and the API:

- a silence names something that exists in the registry in force: a subject (a camera, unit,
  checkpoint, cell, street or district, or ``ingest``), an area of the grid (everything in it), or
  an alert type; it lasts from 60 s to 30 days, given with its unit (``90s``, ``30m``, ``4h``,
  ``2d``), and says why;
- a note is at most 2,000 characters;
- an alert is named by its id or a unique prefix of it.

Each step is recorded with who and when (``store.alerts``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg

from assessment.standards import City
from geofence.grid import Level
from store import alerts as store
from store.registry import load_version, versions_between

from .types import AlertType

SILENCE_MIN_S = 60.0
SILENCE_MAX_S = 30 * 86_400.0
NOTE_MAX = 2000
KINDS = ("subject", "area", "type")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class ActionError(ValueError):
    """An operator's request that cannot be carried out, with the reason."""


class NotFound(ActionError):
    pass


@dataclass(frozen=True)
class Names:
    """What an operator can name: the things of the registry in force."""

    subjects: frozenset[str]  # cameras, units, checkpoints, areas of the grid, "ingest"
    areas: frozenset[str]  # areas of every level: cells, streets/townships, districts, the city
    districts: frozenset[str]

    @classmethod
    def of(cls, city: City, units: frozenset[str] | set[str] = frozenset()) -> "Names":
        areas = frozenset(city.grid.cells)
        districts = frozenset(c.id for c in city.grid.at_level(Level.DISTRICT))
        return cls(areas | {c.id for c in city.cameras} | {c.id for c in city.checkpoints} | set(units) | {"ingest"},
                   areas, districts)

    @classmethod
    def load(cls, conn: psycopg.Connection, now: float) -> "Names":
        found = versions_between(conn, now, now + 1)
        if not found:
            raise ActionError("no grid or registry is loaded: run `pingan migrate` with grid.path set")
        doc = load_version(conn, found[-1][0])
        return cls.of(City.of(found[-1][0], doc), {u["id"] for u in doc["units"]})


def duration(text: str) -> float:
    """``90s``, ``30m``, ``4h``, ``2d`` → seconds, within a silence's bounds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text or "")
    if m is None:
        hint = f": {text.strip()}s, {text.strip()}m, {text.strip()}h or {text.strip()}d?" if re.fullmatch(
            r"\s*\d+(\.\d+)?\s*", text or "") else ""
        raise ActionError(f"duration {text!r} needs its unit (s, m, h or d){hint}")
    return bounded(float(m[1]) * _UNITS[m[2]])


def bounded(seconds: float) -> float:
    if not SILENCE_MIN_S <= seconds <= SILENCE_MAX_S:
        raise ActionError("a silence lasts from 60 s to 30 days")
    return seconds


def alert_type(name: str) -> AlertType:
    try:
        return AlertType(name)
    except ValueError:
        raise ActionError(f"no alert type {name!r} (known: {', '.join(sorted(map(str, AlertType)))})") from None


def check_target(names: Names, kind: str, target: str) -> None:
    if kind not in KINDS:
        raise ActionError(f"a silence's kind is one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "type":
        alert_type(target)
    elif target not in (names.areas if kind == "area" else names.subjects):
        what = "an area of the grid" if kind == "area" else "a camera, unit, checkpoint, area or 'ingest'"
        raise ActionError(f"{target!r} is not {what} in the registry in force: the silence would silence nothing")


def silence(conn: psycopg.Connection, names: Names, kind: str, target: str, seconds: float, who: str, why: str,
            now: float) -> dict[str, Any]:
    check_target(names, kind, target)
    bounded(seconds)
    if not (why or "").strip():
        raise ActionError("a silence says why (for the record)")
    sid = store.add_silence(conn, kind, target, now, now + seconds, who, why.strip())
    conn.commit()
    return {"silence_id": sid, "kind": kind, "target": target, "starts": now, "ends": now + seconds, "who": who,
            "why": why.strip(), "ended_by": None}


def end_silence(conn: psycopg.Connection, ref: str, who: str, now: float) -> dict[str, Any]:
    """End a running silence now (its id or a unique prefix)."""
    ended = store.end_silence(conn, ref, who, now)
    conn.commit()
    if ended is None:
        raise NotFound(f"no running silence {ref!r}")
    return ended


def act(conn: psycopg.Connection, action: str, ref: str, who: str, note: str | None) -> tuple[dict, bool]:
    """Acknowledge or resolve an alert by hand: (the alert as it is now, whether this changed it)."""
    if note is not None and len(note) > NOTE_MAX:
        raise ActionError(f"a note is at most {NOTE_MAX} characters")
    try:
        alert, _ = store.get(conn, ref)
    except store.AlertNotFound as e:
        raise NotFound(str(e)) from None
    done = (store.acknowledge(conn, alert["alert_id"], who, note) if action == "acknowledge"
            else store.resolve(conn, alert["alert_id"], None, who, note))
    conn.commit()
    return store.get(conn, alert["alert_id"])[0], done
