"""Alerts in the database: ``pingan.alert`` (one row per alert, one open per type and subject),
``pingan.alert_event`` (every step, with who and when) and ``pingan.alert_silence``.
Rows travel as plain dicts with epoch-second times, so every layer above can use them."""

from __future__ import annotations

import uuid
from typing import Any, Iterable, Mapping

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_COLUMNS = ("alert_id, type, subject, severity, state, extract(epoch FROM since)::float8 AS since, "
            "extract(epoch FROM opened_at)::float8 AS opened_at, scope, detail, "
            "extract(epoch FROM acknowledged_at)::float8 AS acknowledged_at, acknowledged_by, "
            "extract(epoch FROM resolved_at)::float8 AS resolved_at, resolved_by, escalations, silence_id")


class AlertNotFound(LookupError):
    pass


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(r)
    out["alert_id"] = str(out["alert_id"])
    out["silence_id"] = None if out.get("silence_id") is None else str(out["silence_id"])
    return out


def open_alert(conn: psycopg.Connection, a: Mapping[str, Any], at: float, actor: str = "pingan") -> str:
    """Insert an open alert; when one of the same type and subject is already open (another run
    opened it), nothing is inserted. Returns the id of the open alert."""
    inserted = conn.execute(
        "INSERT INTO pingan.alert (alert_id, type, subject, severity, state, since, opened_at, scope, detail, "
        "escalations, silence_id) VALUES (%s, %s, %s, %s, 'open', to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s) "
        "ON CONFLICT (type, subject) WHERE state <> 'resolved' DO NOTHING RETURNING alert_id",
        (a["alert_id"], a["type"], a["subject"], a["severity"], a["since"], a["opened_at"], Jsonb(a.get("scope", {})),
         Jsonb(a.get("detail", {})), a.get("escalations", 0), a.get("silence_id"))).fetchone()
    if inserted is None:
        return str(conn.execute("SELECT alert_id FROM pingan.alert WHERE type = %s AND subject = %s AND "
                                "state <> 'resolved'", (a["type"], a["subject"])).fetchone()[0])
    add_event(conn, a["alert_id"], "open", actor, at=at,
              detail={"severity": a["severity"], **({"silenced": a["silence_id"]} if a.get("silence_id") else {})})
    return str(a["alert_id"])


def escalate(conn: psycopg.Connection, alert_id: str, severity: str, escalations: int, at: float) -> None:
    conn.execute("UPDATE pingan.alert SET severity = %s, escalations = %s, updated_at = now() WHERE alert_id = %s",
                 (severity, escalations, alert_id))
    add_event(conn, alert_id, "escalate", "pingan", at=at, detail={"severity": severity})


def resolve(conn: psycopg.Connection, alert_id: str, at: float | None, who: str, note: str | None = None) -> bool:
    """Resolve an alert (by the service when its condition cleared, or by an operator);
    False when it was resolved already."""
    done = conn.execute(
        "UPDATE pingan.alert SET state = 'resolved', resolved_at = coalesce(to_timestamp(%s), now()), "
        "resolved_by = %s, updated_at = now() WHERE alert_id = %s AND state <> 'resolved' RETURNING alert_id",
        (at, who, alert_id)).fetchone()
    if done:
        add_event(conn, alert_id, "resolve", who, at=at, note=note)
    return bool(done)


def acknowledge(conn: psycopg.Connection, alert_id: str, who: str, note: str | None = None) -> bool:
    done = conn.execute(
        "UPDATE pingan.alert SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = %s, "
        "updated_at = now() WHERE alert_id = %s AND state = 'open' RETURNING alert_id", (who, alert_id)).fetchone()
    if done:
        add_event(conn, alert_id, "acknowledge", who, note=note)
    return bool(done)


def add_event(conn: psycopg.Connection, alert_id: str, action: str, actor: str, *, at: float | None = None,
              note: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    conn.execute("INSERT INTO pingan.alert_event (alert_id, ts, action, actor, note, detail) "
                 "VALUES (%s, coalesce(to_timestamp(%s), now()), %s, %s, %s, %s)",
                 (alert_id, at, action, actor, note, Jsonb(dict(detail or {}))))


def unresolved(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_row(r) for r in cur.execute(f"SELECT {_COLUMNS} FROM pingan.alert WHERE state <> 'resolved'")]


def _where(state, type, subject, since, until, districts) -> tuple[str, list]:
    where, args = [], []
    if state == "active":
        where.append("state <> 'resolved'")
    elif state and state != "all":
        where.append("state = %s")
        args.append(state)
    for col, value in (("type", type), ("subject", subject)):
        if value:
            where.append(f"{col} = %s")
            args.append(value)
    if since is not None:
        where.append("opened_at >= to_timestamp(%s)")
        args.append(since)
    if until is not None:
        where.append("opened_at < to_timestamp(%s)")
        args.append(until)
    if districts is not None:
        where.append("scope->>'district' = ANY(%s)")
        args.append(sorted(districts))
    return ("WHERE " + " AND ".join(where) if where else ""), args


def find(conn: psycopg.Connection, *, state: str | None = None, type: str | None = None, subject: str | None = None,
         since: float | None = None, until: float | None = None, districts: Iterable[str] | None = None,
         limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Alerts, newest first; `districts`: only those whose scope lies in one of them."""
    where, args = _where(state, type, subject, since, until, districts)
    sql = (f"SELECT {_COLUMNS} FROM pingan.alert {where} "
           "ORDER BY opened_at DESC, alert_id LIMIT %s OFFSET %s")
    with conn.cursor(row_factory=dict_row) as cur:
        return [_row(r) for r in cur.execute(sql, [*args, limit, offset])]


def count(conn: psycopg.Connection, *, state: str | None = None, type: str | None = None, subject: str | None = None,
          districts: Iterable[str] | None = None) -> int:
    """How many alerts `find` would page through."""
    where, args = _where(state, type, subject, None, None, districts)
    return conn.execute(f"SELECT count(*) FROM pingan.alert {where}", args).fetchone()[0]


def get(conn: psycopg.Connection, id_or_prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An alert by its id (or a unique prefix of it) and its events, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM pingan.alert WHERE alert_id::text LIKE %s LIMIT 2",
                           (id_or_prefix.lower() + "%",)).fetchall()
        if len(rows) != 1:
            raise AlertNotFound(f"no alert {id_or_prefix!r}" if not rows else f"{id_or_prefix!r} is ambiguous")
        events = cur.execute("SELECT extract(epoch FROM ts)::float8 AS ts, action, actor, note, detail "
                             "FROM pingan.alert_event WHERE alert_id = %s ORDER BY ts, action",
                             (rows[0]["alert_id"],)).fetchall()
    return _row(rows[0]), events


def add_silence(conn: psycopg.Connection, kind: str, target: str, starts: float, ends: float, who: str,
                why: str) -> str:
    silence_id = str(uuid.uuid4())
    conn.execute("INSERT INTO pingan.alert_silence (silence_id, kind, target, starts, ends, who, why) "
                 "VALUES (%s, %s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s)",
                 (silence_id, kind, target, starts, ends, who, why))
    return silence_id


_SILENCE = ("silence_id::text AS silence_id, kind, target, extract(epoch FROM starts)::float8 AS starts, "
            "extract(epoch FROM ends)::float8 AS ends, who, why, ended_by")


def silences(conn: psycopg.Connection, at: float | None = None) -> list[dict[str, Any]]:
    """Silences not yet ended at `at` (default: all)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {_SILENCE} FROM pingan.alert_silence "
                           "WHERE %s::float8 IS NULL OR ends > to_timestamp(%s) ORDER BY starts", (at, at)).fetchall()


def end_silence(conn: psycopg.Connection, id_or_prefix: str, who: str, at: float) -> dict[str, Any] | None:
    """End a silence running at `at` (its id or a unique prefix) there and then; None: no such one."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute("SELECT silence_id FROM pingan.alert_silence WHERE silence_id::text LIKE %s "
                            "AND ends > to_timestamp(%s) LIMIT 2", (id_or_prefix.lower() + "%", at)).fetchall()
        if len(found) != 1:
            return None
        return cur.execute(f"UPDATE pingan.alert_silence SET ends = greatest(to_timestamp(%s), starts + interval "
                           f"'1 millisecond'), ended_by = %s WHERE silence_id = %s RETURNING {_SILENCE}",
                           (at, who, found[0]["silence_id"])).fetchone()


# -- cameras' reference views ----------------------------------------------------------------------
def save_reference(conn: psycopg.Connection, camera_id: str, light: str, image: bytes, taken_at: float, by: str,
                   *, replace: bool = False) -> bool:
    """A camera's reference view in a light; without `replace`, only where it has none yet."""
    done = conn.execute(
        "INSERT INTO pingan.camera_reference (camera_id, light, image, taken_at, accepted_by) "
        "VALUES (%s, %s, %s, to_timestamp(%s), %s) ON CONFLICT (camera_id, light) DO "
        + ("UPDATE SET image = EXCLUDED.image, taken_at = EXCLUDED.taken_at, accepted_by = EXCLUDED.accepted_by, "
           "accepted_at = now()" if replace else "NOTHING"),
        (camera_id, light, image, taken_at, by))
    return done.rowcount == 1


def references(conn: psycopg.Connection, since: float | None = None) -> list[dict[str, Any]]:
    """Reference views accepted after `since` (default: all), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT camera_id, light, image, extract(epoch FROM taken_at)::float8 AS taken_at, accepted_by, "
            "extract(epoch FROM accepted_at)::float8 AS accepted_at FROM pingan.camera_reference "
            "WHERE %s::float8 IS NULL OR accepted_at > to_timestamp(%s) ORDER BY accepted_at",
            (since, since)).fetchall()


def latest_snapshot(conn: psycopg.Connection, camera_id: str) -> tuple[float, bytes] | None:
    """A camera's newest stored snapshot (from the table, or the file it was written to)."""
    row = conn.execute("SELECT extract(epoch FROM ts)::float8, image, path FROM pingan.camera_snapshot "
                       "WHERE camera_id = %s ORDER BY ts DESC LIMIT 1", (camera_id,)).fetchone()
    if row is None:
        return None
    ts, image, path = row
    if image is None and path:
        with open(path, "rb") as f:
            image = f.read()
    return (ts, bytes(image)) if image else None
