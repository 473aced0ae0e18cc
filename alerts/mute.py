"""Muting, asked at the moment a notification would go out (Alertmanager's inhibit › silence
stages): an alert is always opened, escalated and resolved in the record; only its notification
is held back, and why is recorded beside it.

- **Inhibition** — an open alert that explains another mutes it:
  - a camera that is offline mutes its own ``camera_low_fps``, ``camera_not_recording``,
    ``camera_storage_fault`` and image alerts (a dead camera has no frame rate nor picture);
  - a ``blind_spot`` mutes the ``coverage_gap`` of its cell and the ``camera_offline`` of the key
    cameras in it: it is made of them;
  - ``ingest_stalled`` mutes the ``unit_silent`` and ``camera_offline`` that began after the feed
    stopped: they are its echo, not news from the street.
- **Silence** — a maintenance window (a subject, an area: everything in it, or an alert type)
  mutes what it covers at the time of the notification, whenever the alert opened: an alert
  opened before the silence is muted while it runs (its escalations and its resolve included),
  and one opened inside it is notified again once it has ended.

Pure: the service gives it the alerts open now and the silences, and stores what it says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .lifecycle import Alert, Silence
from .types import AlertType

T = AlertType
CAMERA_HEALTH = frozenset({T.CAMERA_LOW_FPS, T.CAMERA_NOT_RECORDING, T.CAMERA_STORAGE_FAULT,
                           *(t for t in AlertType if t.startswith("image_"))})


@dataclass(frozen=True)
class Mute:
    note: str  # why, for the alert's history
    silence_id: str | None = None  # the silence, where one muted it


@dataclass(frozen=True)
class Muter:
    key_cell_of: Mapping[str, str] = field(default_factory=dict)  # key-location camera → its key cell
    stall_s: float = 120.0  # ingest_stalled opens this long after the feed stopped

    def why(self, alert: Alert, at: float, open_alerts: Mapping[tuple[AlertType, str], Alert],
            silences: Sequence[Silence]) -> Mute | None:
        """Why a notification of `alert` is not sent at (wall-clock) time `at`; None: send it."""
        by = self.inhibitor(alert, open_alerts)
        if by is not None:
            return Mute(f"inhibited by {by.type} {by.subject}")
        silence = next((s for s in silences if s.covers(alert, at)), None)
        if silence is not None:
            return Mute(f"silenced by {silence.silence_id[:8]} ({silence.who}: {silence.why})", silence.silence_id)
        return None

    def inhibitor(self, alert: Alert, open_alerts: Mapping[tuple[AlertType, str], Alert]) -> Alert | None:
        t, subject = alert.type, alert.subject
        found = None
        if t in CAMERA_HEALTH:
            found = open_alerts.get((T.CAMERA_OFFLINE, subject))
        elif t is T.COVERAGE_GAP:
            found = open_alerts.get((T.BLIND_SPOT, subject))
        elif t is T.CAMERA_OFFLINE and subject in self.key_cell_of:
            found = open_alerts.get((T.BLIND_SPOT, self.key_cell_of[subject]))
        if found is None and t in (T.UNIT_SILENT, T.CAMERA_OFFLINE):
            stalled = open_alerts.get((T.INGEST_STALLED, "ingest"))
            if stalled is not None and alert.since >= stalled.since - self.stall_s:
                found = stalled
        return found
