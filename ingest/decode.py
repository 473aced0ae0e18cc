"""The boundary: topic + bytes → records, or a reject with its reason. Never raises.

Wire schemas are declared with msgspec; payload fields a device adds beyond the contract are
ignored, missing required fields and wrong types are rejected as ``malformed``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from store.records import (
    CameraHealth,
    CameraSnapshot,
    Checkin,
    DeviceStatus,
    Message,
    PatrolFix,
    Record,
    Reject,
    RejectReason,
)

# ts: epoch seconds or RFC 3339 with an offset (a naive time has no meaning across time zones).
Ts = float | Annotated[datetime, Meta(tz=True)]
NonNeg = Annotated[float, Meta(ge=0, le=1e9)]  # bounded so every value fits its column
Id = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class GpsIn(msgspec.Struct, frozen=True):
    ts: Ts
    lat: float
    lon: float
    acc: NonNeg | None = None
    spd: NonNeg | None = None
    hdg: Annotated[float, Meta(ge=0, le=360)] | None = None
    batt: Annotated[float, Meta(ge=0, le=100)] | None = None
    officers: Annotated[tuple[Id, ...], Meta(max_length=32)] = ()
    seq: Annotated[int, Meta(ge=0, le=2**63 - 1)] | None = None


class HealthIn(msgspec.Struct, frozen=True):
    ts: Ts
    online: bool
    fps: NonNeg | None = None
    bitrate_kbps: NonNeg | None = None
    recording: bool | None = None
    storage_ok: bool | None = None
    packet_loss: Annotated[float, Meta(ge=0, le=1)] | None = None
    temp_c: Annotated[float, Meta(ge=-80, le=150)] | None = None
    uptime_s: NonNeg | None = None


class CheckinIn(msgspec.Struct, frozen=True):
    ts: Ts
    officer: Id
    action: Literal["on", "off"]
    method: Literal["nfc", "qr", "gps", "manual"] = "manual"


class StatusIn(msgspec.Struct, frozen=True):
    status: Literal["online", "offline"]
    ts: Ts | None = None


class OwnTracksLocation(msgspec.Struct, frozen=True, tag_field="_type", tag="location"):
    tst: float
    lat: float
    lon: float
    acc: NonNeg | None = None
    vel: NonNeg | None = None  # km/h
    cog: Annotated[float, Meta(ge=0, le=360)] | None = None
    batt: Annotated[float, Meta(ge=0, le=100)] | None = None


class OwnTracksLwt(msgspec.Struct, frozen=True, tag_field="_type", tag="lwt"):
    tst: float | None = None


class FrigateCamera(msgspec.Struct, frozen=True):
    camera_fps: NonNeg = 0.0
    process_fps: NonNeg = 0.0
    skipped_fps: NonNeg = 0.0
    detection_fps: NonNeg = 0.0


class FrigateService(msgspec.Struct, frozen=True):
    last_updated: float | None = None
    uptime: float | None = None


class FrigateStats(msgspec.Struct, frozen=True):
    cameras: dict[Id, FrigateCamera]
    service: FrigateService | None = None


_gps_one = msgspec.json.Decoder(GpsIn)
_gps_many = msgspec.json.Decoder(GpsIn | list[GpsIn])
_health = msgspec.json.Decoder(HealthIn)
_checkin = msgspec.json.Decoder(CheckinIn)
_owntracks = msgspec.json.Decoder(OwnTracksLocation | OwnTracksLwt)
_frigate = msgspec.json.Decoder(FrigateStats)
_status = msgspec.json.Decoder(StatusIn)

JPEG_MAGIC = b"\xff\xd8\xff"


def _epoch(ts: float | datetime) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


class Decoder:
    """Routes a message by topic and decodes its payload."""

    def __init__(self, max_payload_bytes: int, snapshot_max_bytes: int):
        self.max_payload = max_payload_bytes
        self.max_snapshot = snapshot_max_bytes

    def __call__(self, msg: Message) -> list[Record] | Reject:
        try:
            return self._decode(msg)
        except msgspec.ValidationError as e:
            detail = str(e)
            if "`$._type`" in detail:
                return Reject(RejectReason.UNSUPPORTED_MESSAGE, detail, _device_of(msg.topic))
            return Reject(RejectReason.MALFORMED, detail, _device_of(msg.topic))
        except msgspec.DecodeError as e:
            return Reject(RejectReason.MALFORMED, f"not JSON: {e}", _device_of(msg.topic))
        except (ValueError, OverflowError) as e:  # e.g. a timestamp no calendar can hold
            return Reject(RejectReason.MALFORMED, str(e), _device_of(msg.topic))

    def _decode(self, msg: Message) -> list[Record] | Reject:
        parts = msg.topic.split("/")
        size = len(msg.payload)
        if len(parts) == 5 and parts[0] == "pingan" and parts[1] == "v1" and parts[3]:
            family, device, leaf = parts[2], parts[3], parts[4]
            if family == "camera" and leaf == "snapshot":
                return self._snapshot(device, msg)
            if size > self.max_payload:
                return Reject(RejectReason.OVERSIZED, f"{size} bytes > {self.max_payload}", device)
            if family == "patrol" and leaf == "gps":
                fixes = _gps_many.decode(msg.payload)
                if isinstance(fixes, GpsIn):
                    fixes = [fixes]
                if not fixes:
                    return Reject(RejectReason.MALFORMED, "empty batch", device)
                return [PatrolFix(device, _epoch(f.ts), f.lat, f.lon, f.acc, f.spd, f.hdg, f.batt,
                                  f.officers, f.seq) for f in fixes]
            if family == "camera" and leaf == "health":
                h = _health.decode(msg.payload)
                return [CameraHealth(device, _epoch(h.ts), h.online, h.fps, h.bitrate_kbps, h.recording,
                                     h.storage_ok, h.packet_loss, h.temp_c, h.uptime_s)]
            if family == "camera" and leaf == "status":
                return self._status(device, msg)
            if family == "checkpoint" and leaf == "checkin":
                c = _checkin.decode(msg.payload)
                return [Checkin(device, _epoch(c.ts), c.officer, c.action, c.method)]
        elif len(parts) == 3 and parts[0] == "owntracks" and parts[1] and parts[2]:
            device = f"{parts[1]}/{parts[2]}"
            if size > self.max_payload:
                return Reject(RejectReason.OVERSIZED, f"{size} bytes > {self.max_payload}", device)
            m = _owntracks.decode(msg.payload)
            if isinstance(m, OwnTracksLwt):
                # the broker sends the last will when the app is gone; its tst is when the app
                # connected, so the time of going offline is the delivery time
                return [DeviceStatus("unit", device, msg.received, False, "owntracks")]
            spd = m.vel / 3.6 if m.vel is not None else None
            return [PatrolFix(device, m.tst, m.lat, m.lon, m.acc, spd, m.cog, m.batt, source="owntracks")]
        elif msg.topic == "frigate/stats":
            if size > self.max_payload:
                return Reject(RejectReason.OVERSIZED, f"{size} bytes > {self.max_payload}")
            s = _frigate.decode(msg.payload)
            ts = s.service.last_updated if s.service and s.service.last_updated else msg.received
            return [CameraHealth(name, ts, c.camera_fps > 0, c.camera_fps, process_fps=c.process_fps,
                                 skipped_fps=c.skipped_fps, detection_fps=c.detection_fps, source="frigate")
                    for name, c in s.cameras.items() if name]
        return Reject(RejectReason.UNKNOWN_TOPIC, "topic is not part of the contract", None)

    def _status(self, device: str, msg: Message) -> list[Record] | Reject:
        """`online` / `offline` (a retained status, the last will), or {"status", "ts"}. Its time:
        the payload's ts, else the MQTT v5 user property ts, else the delivery time (a last will
        cannot know when it will be sent)."""
        text = msg.payload.strip()
        if not text:
            return []  # a retained status being cleared: nothing to record
        if text.startswith(b"{"):
            st = _status.decode(text)
            ts = _epoch(st.ts) if st.ts is not None else msg.captured if msg.captured is not None else msg.received
            return [DeviceStatus("camera", device, ts, st.status == "online")]
        if text.lower() not in (b"online", b"offline"):
            return Reject(RejectReason.MALFORMED, "status must be 'online', 'offline' or "
                                                  '{"status": "online"|"offline", "ts": …}', device)
        ts = msg.captured if msg.captured is not None else msg.received
        return [DeviceStatus("camera", device, ts, text.lower() == b"online")]

    def _snapshot(self, device: str, msg: Message) -> list[Record] | Reject:
        size = len(msg.payload)
        if size > self.max_snapshot:
            return Reject(RejectReason.OVERSIZED, f"snapshot {size} bytes > {self.max_snapshot}", device)
        if not msg.payload.startswith(JPEG_MAGIC):
            return Reject(RejectReason.NOT_JPEG, "snapshot does not start with a JPEG marker", device)
        ts = msg.captured if msg.captured is not None else msg.received
        return [CameraSnapshot(device, ts, size, hashlib.sha256(msg.payload).hexdigest(), msg.payload)]


def _device_of(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == "pingan":
        return parts[3] or None
    if len(parts) == 3 and parts[0] == "owntracks":
        return f"{parts[1]}/{parts[2]}"
    return None
