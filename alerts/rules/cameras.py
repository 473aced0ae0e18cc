"""Camera health: offline (by its status or by missed heartbeats), flapping, low frame rate,
not recording, storage fault.

- **Offline** from the moment the camera said so (a retained status or its last will), or —
  when it just falls silent — from the moment its first missed heartbeat was due, once more
  than ``missed_heartbeats`` intervals have passed (the uptime rule of the assessment). After a
  stretch in which the ingest was not receiving the silence is counted afresh from its end.
- **Flapping**: ``flapping_transitions`` status changes within ``flapping_window_s``. While a
  camera flaps, it raises ``camera_flapping`` and no offline/online stream.
- **Low fps**: a heartbeat's fps under ``low_fps_ratio`` × the camera's expected fps.
- **Not recording**, **storage fault**: as the heartbeat reports them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

from alerts.types import AlertType
from store.records import CameraHealth, DeviceStatus

from . import NOTHING_MISSED, Condition, level, silence_from

T = AlertType


@dataclass(frozen=True)
class CameraParams:
    missed_heartbeats: float = 3.0
    low_fps_ratio: float = 0.5
    flapping_transitions: int = 4
    flapping_window_s: float = 600.0


@dataclass
class CameraState:
    camera_id: str
    heartbeat_s: float
    expected_fps: float | None = None
    scope: Mapping[str, str] = field(default_factory=dict)
    last_seen: float = -math.inf  # latest heartbeat
    said_offline: bool = False  # the latest status message
    status_ts: float = -math.inf
    changes: deque = field(default_factory=deque)  # times the status changed


def on_health(st: CameraState, h: CameraHealth, p: CameraParams) -> list[Condition]:
    """A heartbeat: its faults, and the camera is reporting."""
    if h.ts <= st.last_seen:
        return []  # an older or repeated heartbeat changes nothing
    st.last_seen = h.ts
    out = [
        level(T.CAMERA_LOW_FPS, st.camera_id,
              h.fps is not None and bool(st.expected_fps) and h.fps < p.low_fps_ratio * st.expected_fps,
              h.ts, h.ts, st.scope, {"fps": h.fps, "expected_fps": st.expected_fps}),
        level(T.CAMERA_NOT_RECORDING, st.camera_id, h.recording is False, h.ts, h.ts, st.scope),
        level(T.CAMERA_STORAGE_FAULT, st.camera_id, h.storage_ok is False, h.ts, h.ts, st.scope),
    ]
    if not h.online:  # a heartbeat that says it is offline (Frigate: no frames) is a status
        out += on_status(st, DeviceStatus("camera", st.camera_id, h.ts, False), p)
    elif st.said_offline and h.ts > st.status_ts:
        out += on_status(st, DeviceStatus("camera", st.camera_id, h.ts, True), p)
    return out + on_tick(st, h.ts, p)


def on_status(st: CameraState, s: DeviceStatus, p: CameraParams) -> list[Condition]:
    if s.ts <= st.status_ts:
        return []
    if (not s.online) != st.said_offline:  # a camera is taken to be online until it says otherwise
        st.changes.append(s.ts)
    st.said_offline, st.status_ts = not s.online, s.ts
    if s.online:
        st.last_seen = max(st.last_seen, s.ts)
    return on_tick(st, s.ts, p)


def offline_since(st: CameraState, now: float, p: CameraParams,
                  missed: tuple[float, float] = NOTHING_MISSED) -> float | None:
    if st.said_offline and st.status_ts >= st.last_seen:
        return st.status_ts
    limit = p.missed_heartbeats * st.heartbeat_s
    if st.last_seen > -math.inf:
        heard = silence_from(st.last_seen, limit, missed)
        if now - heard > limit:
            return heard + st.heartbeat_s
    return None


def on_tick(st: CameraState, now: float, p: CameraParams,
            missed: tuple[float, float] = NOTHING_MISSED) -> list[Condition]:
    """Absence: offline by silence, and whether the status changes still amount to flapping.
    missed: the latest stretch in which the ingest was not receiving (``silence_from``)."""
    while st.changes and st.changes[0] <= now - p.flapping_window_s:
        st.changes.popleft()
    flapping = len(st.changes) >= p.flapping_transitions
    since = offline_since(st, now, p, missed)
    return [level(T.CAMERA_FLAPPING, st.camera_id, flapping, st.changes[0] if flapping else now, now, st.scope,
                  {"changes": len(st.changes), "window_s": p.flapping_window_s}),
            level(T.CAMERA_OFFLINE, st.camera_id, since is not None and not flapping,
                  since if since is not None else now, now, st.scope,
                  {"last_seen": st.last_seen if st.last_seen > -math.inf else None})]
