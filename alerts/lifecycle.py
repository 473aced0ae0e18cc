"""The life of an alert, as operators know it from alarm systems: open → acknowledged →
resolved, with who and when for each step.

- One open alert per (type, subject).
- A condition must hold for its ``for_s`` before the alert opens, and be clear for its
  ``clear_for_s`` before it resolves: one late heartbeat neither opens nor closes anything.
- An alert left unacknowledged past ``escalate_after_s`` (critical and major ones) is escalated:
  its severity goes one step up and it is notified again, every ``escalate_after_s`` until
  someone acknowledges it.
- A silence (a maintenance window for a subject, an area or an alert type; who, why, until
  when) stops notifications but not the record; it is asked when a notification would go out
  (``alerts.mute``), not here.

Pure: the service feeds it conditions and ticks (event time) and stores and delivers the
changes it returns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Callable, Iterable, Mapping

from .rules import Condition
from .settings import AlertSettings
from .types import SUBJECT_KIND, AlertType, Severity


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    alert_id: str
    type: AlertType
    subject: str
    severity: Severity
    state: AlertState
    since: float  # the condition holds since (event time)
    opened_at: float  # when it opened (event time: once the condition had held for_s, when that was seen)
    scope: Mapping[str, str] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    escalations: int = 0
    silence_id: str | None = None

    @property
    def key(self) -> tuple[AlertType, str]:
        return self.type, self.subject

    def to_json(self) -> dict[str, Any]:
        return {"id": self.alert_id, "type": str(self.type), "subject": self.subject,
                "subject_kind": SUBJECT_KIND[self.type], "severity": str(self.severity), "state": str(self.state),
                "since": self.since, "opened_at": self.opened_at, "scope": dict(self.scope),
                "detail": dict(self.detail), "acknowledged_at": self.acknowledged_at,
                "acknowledged_by": self.acknowledged_by, "resolved_at": self.resolved_at,
                "resolved_by": self.resolved_by, "escalations": self.escalations, "silenced": self.silence_id}


@dataclass(frozen=True)
class Silence:
    """A maintenance window: no notifications for what it covers, from `starts` to `ends`."""

    silence_id: str
    kind: str  # subject (a camera, unit, cell …) | area (a street or district: everything in it) | type
    target: str
    starts: float
    ends: float
    who: str
    why: str

    def covers(self, alert: Alert, at: float) -> bool:
        if not self.starts <= at < self.ends:
            return False
        if self.kind == "subject":
            return alert.subject == self.target
        if self.kind == "type":
            return str(alert.type) == self.target
        return self.target in alert.scope.values() or alert.subject == self.target


class Action(StrEnum):
    OPEN = "open"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Change:
    action: Action
    alert: Alert
    at: float
    actor: str = "pingan"


@dataclass
class _Tracked:
    since: float | None = None  # holding since, not yet open
    cond: Condition | None = None
    clear_since: float | None = None


class Lifecycle:
    def __init__(self, settings: AlertSettings, new_id: Callable[[], str] = lambda: str(uuid.uuid4())):
        self.settings = settings
        self.new_id = new_id
        self.open: dict[tuple[AlertType, str], Alert] = {}
        self._tracked: dict[tuple[AlertType, str], _Tracked] = {}
        self._resolved: dict[tuple[AlertType, str], list[tuple[float, float]]] = {}

    def load(self, alerts: Iterable[Alert]) -> None:
        """The alerts the store holds open (after a restart): they are not opened again."""
        for a in alerts:
            self.open[a.key] = a
            self._tracked[a.key] = _Tracked(since=a.since)

    def load_resolved(self, alerts: Iterable[Alert]) -> None:
        """Alerts already raised and resolved (before a restart): replaying the records that
        raised them does not raise them again — a condition that began before one of them was
        resolved is that alert's episode."""
        for a in alerts:
            if a.resolved_at is not None:
                self._resolved.setdefault(a.key, []).append((a.since, a.resolved_at))

    def forget(self, key: tuple[AlertType, str]) -> None:
        """An operator resolved it by hand: it opens again only on a new condition."""
        self.open.pop(key, None)
        self._tracked.pop(key, None)

    def update(self, alert: Alert) -> None:
        """An operator acknowledged it (or changed it otherwise)."""
        if alert.key in self.open:
            self.open[alert.key] = alert

    # -- conditions --------------------------------------------------------------------------
    def apply(self, conditions: Iterable[Condition], now: float) -> list[Change]:
        out: list[Change] = []
        for c in conditions:
            key = (c.type, c.subject)
            tr = self._tracked.get(key)
            if c.active:
                if tr is None:
                    tr = self._tracked[key] = _Tracked()
                tr.clear_since = None
                if tr.since is None or (key not in self.open and c.at < tr.since):
                    tr.since = c.at
                tr.cond = c
                if key in self.open:
                    a = self.open[key]
                    if c.detail and c.detail != a.detail:
                        self.open[key] = replace(a, detail=dict(c.detail))
                else:
                    out += self._maybe_open(key, tr, now)
            elif tr is not None:
                if key not in self.open:
                    del self._tracked[key]  # it held too briefly to open
                    continue
                if c.at <= self.open[key].since:
                    continue  # not after the condition that opened it began (a replay): it does not clear it
                tr.since = None
                if tr.clear_since is None:
                    tr.clear_since = c.at
                out += self._maybe_resolve(key, tr, now)
        return out

    def tick(self, now: float) -> list[Change]:
        """Holds and clears that have lasted long enough by now; escalations due."""
        out: list[Change] = []
        for key, tr in list(self._tracked.items()):
            if key in self.open:
                if tr.clear_since is not None:
                    out += self._maybe_resolve(key, tr, now)
            elif tr.since is not None:
                out += self._maybe_open(key, tr, now)
        every = self.settings.escalate_after_s
        for key, a in list(self.open.items()):
            if (a.state is AlertState.OPEN and a.severity.rank <= Severity.MAJOR.rank
                    and now >= a.opened_at + every * (a.escalations + 1)):
                a = replace(a, severity=a.severity.raised(), escalations=a.escalations + 1)
                self.open[key] = a
                out.append(Change(Action.ESCALATE, a, now))
        return out

    def next_due(self) -> float:
        """The earliest event time at which a hold or a clear being watched runs out (so that the
        service can look then, not at its next sweep); inf when none is."""
        due = float("inf")
        for key, tr in self._tracked.items():
            if key in self.open:
                if tr.clear_since is not None:
                    a = self.open[key]
                    due = min(due, tr.clear_since + self.settings.clear_for(a.type, a.scope))
            elif tr.since is not None and tr.cond is not None:
                due = min(due, tr.since + self.settings.hold_for(tr.cond.type, tr.cond.scope))
        return due

    def _maybe_open(self, key, tr: _Tracked, now: float) -> list[Change]:
        c = tr.cond
        hold = self.settings.hold_for(c.type, c.scope)
        if now < tr.since + hold:
            return []
        if any(tr.since <= resolved for _, resolved in self._resolved.get(key, ())):
            return []  # raised and resolved already, before a restart
        a = Alert(self.new_id(), c.type, c.subject, self.settings.severity_of(c.type, c.scope), AlertState.OPEN,
                  tr.since, now, dict(c.scope), dict(c.detail))
        self.open[key] = a
        return [Change(Action.OPEN, a, now)]

    def _maybe_resolve(self, key, tr: _Tracked, now: float) -> list[Change]:
        a = self.open[key]
        if now < tr.clear_since + self.settings.clear_for(a.type, a.scope):
            return []
        done = replace(a, state=AlertState.RESOLVED, resolved_at=now, resolved_by="pingan")
        del self.open[key]
        del self._tracked[key]
        return [Change(Action.RESOLVE, done, now)]
