"""Storing and delivering what the lifecycle changed, as stages: store (the record, always: an
alert opened, escalated or resolved is in ``pingan.alert`` and its history whatever follows) ›
mute (``alerts.mute``: inhibited or silenced, recorded as a ``muted`` event with why) › group and
fan out (``alerts.notify.Dispatcher``: MQTT, the Redis stream, webhooks)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import msgspec
import psycopg

from store import alerts as alert_store

from .lifecycle import Action, Alert, AlertState, Change, Silence
from .mute import Muter
from .notify import Dispatcher
from .types import AlertType, Severity


@dataclass
class Counts:
    opened: int = 0
    resolved: int = 0
    escalated: int = 0
    muted: int = 0


class Delivery:
    def __init__(self, connection: Callable[[], psycopg.Connection], dispatcher: Dispatcher, counts: Counts):
        self.connection = connection
        self.dispatcher = dispatcher
        self.counts = counts

    def __call__(self, changes: Sequence[Change], open_alerts: dict[tuple[AlertType, str], Alert],
                 muter: Muter, silences: Sequence[Silence], wall: float) -> None:
        """Store `changes` (open_alerts: the lifecycle's, kept in step with what the store holds),
        then notify what is not muted at `wall`, in one transaction's wake."""
        if not changes:
            return
        conn = self.connection()
        out = []
        for c in changes:
            a = self._stored(conn, c, open_alerts, mute := muter.why(c.alert, wall, open_alerts, silences))
            if a is None:
                continue
            if mute is not None:  # recorded, not notified
                alert_store.add_event(conn, a.alert_id, "muted", "pingan", at=c.at, note=f"{c.action}: {mute.note}")
                self.counts.muted += 1
                continue
            out.append(Change(c.action, a, c.at, c.actor))
        conn.commit()
        self.dispatcher.dispatch(out)

    def _stored(self, conn: psycopg.Connection, c: Change, open_alerts: dict, mute) -> Alert | None:
        """The change in the store; the alert as stored, or None where there was nothing to do."""
        a = c.alert
        if c.action is Action.OPEN:
            if mute is not None and mute.silence_id:
                a = open_alerts[a.key] = replace(a, silence_id=mute.silence_id)
            stored_id = alert_store.open_alert(conn, row(a), c.at)
            if stored_id != a.alert_id:  # opened already by an earlier run: keep that one
                open_alerts[a.key] = replace(a, alert_id=stored_id)
                return None
            self.counts.opened += 1
        elif c.action is Action.RESOLVE:
            if not alert_store.resolve(conn, a.alert_id, c.at, c.actor):
                return None
            self.counts.resolved += 1
        elif c.action is Action.ESCALATE:
            alert_store.escalate(conn, a.alert_id, str(a.severity), a.escalations, c.at)
            self.counts.escalated += 1
        return a


def row(a: Alert) -> dict[str, Any]:
    """An alert as the store takes it."""
    return {"alert_id": a.alert_id, "type": str(a.type), "subject": a.subject, "severity": str(a.severity),
            "since": a.since, "opened_at": a.opened_at, "scope": dict(a.scope), "detail": _plain(a.detail),
            "escalations": a.escalations, "silence_id": a.silence_id}


def _plain(detail) -> dict:
    return msgspec.json.decode(msgspec.json.encode(dict(detail))) if detail else {}


def alert(r: Mapping[str, Any]) -> Alert:
    """An alert as the store gives it."""
    return Alert(r["alert_id"], AlertType(r["type"]), r["subject"], Severity(r["severity"]), AlertState(r["state"]),
                 r["since"], r["opened_at"], r["scope"] or {}, r["detail"] or {}, r["acknowledged_at"],
                 r["acknowledged_by"], r["resolved_at"], r["resolved_by"], r["escalations"], r["silence_id"])
