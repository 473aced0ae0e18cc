"""The boundary: topic + bytes → records, or a reject with its reason. Never raises.

A message is routed by its topic through a table of decoders, one per kind of message; a
topic outside the contract is ``unknown_topic``. Wire schemas are declared with msgspec:
payload fields a device adds beyond the contract are ignored; missing required fields, wrong
types and JSON nested too deeply are ``malformed``. A snapshot is a JPEG only if it decodes.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import Annotated, Callable, Literal

import cv2
import msgspec
import numpy as np
from msgspec import Meta
from PIL import Image

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
    Transition,
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


class DutyIn(msgspec.Struct, frozen=True):
    duty: Literal["on", "off"]
    ts: Ts


class OwnTracksHead(msgspec.Struct):
    type: str = msgspec.field(name="_type", default="")


Unknownable = Annotated[float, Meta(ge=-1, le=1e9)]  # older iOS apps send -1 for "unknown"


class OwnTracksLocation(msgspec.Struct, frozen=True):
    tst: float
    lat: float
    lon: float
    acc: NonNeg | None = None
    vel: Unknownable | None = None  # km/h
    cog: Annotated[float, Meta(ge=-1, le=360)] | None = None
    batt: Annotated[float, Meta(ge=-1, le=100)] | None = None


class OwnTracksLwt(msgspec.Struct, frozen=True):
    tst: float | None = None


class OwnTracksTransition(msgspec.Struct, frozen=True):
    tst: float
    event: Literal["enter", "leave"]
    desc: Annotated[str, Meta(min_length=1, max_length=128)]
    lat: float | None = None
    lon: float | None = None
    acc: NonNeg | None = None


class FrigateCamera(msgspec.Struct, frozen=True):
    camera_fps: NonNeg = 0.0
    process_fps: NonNeg = 0.0
    skipped_fps: NonNeg = 0.0
    detection_fps: NonNeg = 0.0


class FrigateService(msgspec.Struct, frozen=True):
    last_updated: float | None = None
    uptime: float | None = None


_gps_many = msgspec.json.Decoder(GpsIn | list[GpsIn])
_health = msgspec.json.Decoder(HealthIn)
_checkin = msgspec.json.Decoder(CheckinIn)
_owntracks_head = msgspec.json.Decoder(OwnTracksHead)
_owntracks = {"location": msgspec.json.Decoder(OwnTracksLocation), "lwt": msgspec.json.Decoder(OwnTracksLwt),
              "transition": msgspec.json.Decoder(OwnTracksTransition)}
_any = msgspec.json.Decoder()
_status = msgspec.json.Decoder(StatusIn)
_duty = msgspec.json.Decoder(DutyIn)

JPEG_MAGIC = b"\xff\xd8\xff"
# OwnTracks message types Pingan has no use for, and why
OWNTRACKS_UNUSED = {"waypoint": "a region definition", "waypoints": "region definitions", "card": "a contact card",
                    "status": "the app's own status", "steps": "a step count", "cmd": "a command",
                    "configuration": "the app's configuration", "encrypted": "an encrypted payload (no key here)",
                    "beacon": "a beacon sighting", "request": "a request to the app"}
# subtopics an OwnTracks app publishes besides its location and events
OWNTRACKS_SUBTOPICS = {"info": "a contact card", "cmd": "a command", "waypoints": "region definitions",
                       "waypoint": "a region definition", "dump": "the app's configuration", "status": "its status",
                       "step": "a step count", "beacon": "a beacon sighting"}


def _epoch(ts: float | datetime) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


def _unknown(value: float | None) -> float | None:
    return None if value is None or value == -1 else value


Handler = Callable[["Decoder", str, Message], "list[Record] | Reject"]


class Decoder:
    """Routes a message by topic to its decoder (the table in `route`) and decodes its payload."""

    def __init__(self, max_payload_bytes: int, snapshot_max_bytes: int):
        self.max_payload = max_payload_bytes
        self.max_snapshot = snapshot_max_bytes

    def __call__(self, msg: Message) -> list[Record] | Reject:
        device = _device_of(msg.topic)
        try:
            handler, device = route(msg.topic)
            if handler is None:
                return Reject(RejectReason.UNKNOWN_TOPIC, "topic is not part of the contract", None)
            if handler is not Decoder.snapshot and len(msg.payload) > self.max_payload:
                return Reject(RejectReason.OVERSIZED, f"{len(msg.payload)} bytes > {self.max_payload} "
                                                      "(ingest.max_payload_bytes)", device)
            return handler(self, device, msg)
        except msgspec.ValidationError as e:
            return Reject(RejectReason.MALFORMED, str(e), device)
        except msgspec.DecodeError as e:
            return Reject(RejectReason.MALFORMED, f"not JSON: {e}", device)
        except RecursionError:
            return Reject(RejectReason.MALFORMED, "JSON nested too deeply", device)
        except (ValueError, OverflowError) as e:  # e.g. a timestamp no calendar can hold
            return Reject(RejectReason.MALFORMED, str(e), device)

    # -- the decoders, one per kind of message -------------------------------------------------
    def gps(self, device: str, msg: Message) -> list[Record] | Reject:
        fixes = _gps_many.decode(msg.payload)
        if isinstance(fixes, GpsIn):
            fixes = [fixes]
        if not fixes:
            return Reject(RejectReason.MALFORMED, "empty batch", device)
        return [PatrolFix(device, _epoch(f.ts), f.lat, f.lon, f.acc, f.spd, f.hdg, f.batt, f.officers, f.seq)
                for f in fixes]

    def health(self, device: str, msg: Message) -> list[Record] | Reject:
        h = _health.decode(msg.payload)
        return [CameraHealth(device, _epoch(h.ts), h.online, h.fps, h.bitrate_kbps, h.recording, h.storage_ok,
                             h.packet_loss, h.temp_c, h.uptime_s)]

    def checkin(self, device: str, msg: Message) -> list[Record] | Reject:
        c = _checkin.decode(msg.payload)
        return [Checkin(device, _epoch(c.ts), c.officer, c.action, c.method)]

    def status(self, device: str, msg: Message) -> list[Record] | Reject:
        """`online` / `offline` (a retained status, the last will), or {"status", "ts"}. Its time:
        the payload's ts, else the MQTT v5 user property ts, else the delivery time (a last will
        cannot know when it will be sent)."""
        text = msg.payload.strip()
        if not text:
            return Reject(RejectReason.EMPTY, "an empty status (a retained status being cleared): nothing to record",
                          device)
        if text.startswith(b"{"):
            st = _status.decode(text)
            ts = _epoch(st.ts) if st.ts is not None else msg.captured if msg.captured is not None else msg.received
            return [DeviceStatus("camera", device, ts, st.status == "online")]
        if text.lower() not in (b"online", b"offline"):
            return Reject(RejectReason.MALFORMED, "status must be 'online', 'offline' or "
                                                  '{"status": "online"|"offline", "ts": …}', device)
        ts = msg.captured if msg.captured is not None else msg.received
        return [DeviceStatus("camera", device, ts, text.lower() == b"online")]

    def duty(self, device: str, msg: Message) -> list[Record] | Reject:
        """A unit signing on or off duty: {"duty": "on"|"off", "ts"}. Off duty, its silence is expected."""
        d = _duty.decode(msg.payload)
        return [DeviceStatus("unit", device, _epoch(d.ts), d.duty == "on", source="duty")]

    def own_output(self, device: str, msg: Message) -> list[Record] | Reject:
        """Pingan's own alerts, published under the same tree: nothing to record, nothing rejected."""
        return []

    def snapshot(self, device: str, msg: Message) -> list[Record] | Reject:
        size = len(msg.payload)
        if size > self.max_snapshot:
            return Reject(RejectReason.OVERSIZED, f"snapshot {size} bytes > {self.max_snapshot} "
                                                  "(ingest.snapshot_max_bytes)", device)
        if not msg.payload.startswith(JPEG_MAGIC):
            return Reject(RejectReason.NOT_JPEG, "snapshot does not start with a JPEG marker", device)
        why = jpeg_problem(msg.payload)
        if why:
            return Reject(RejectReason.CORRUPT_IMAGE, why, device)
        ts = msg.captured if msg.captured is not None else exif_time(msg.payload) or msg.received
        return [CameraSnapshot(device, ts, size, hashlib.sha256(msg.payload).hexdigest(), msg.payload)]

    def owntracks(self, device: str, msg: Message) -> list[Record] | Reject:
        kind = _owntracks_head.decode(msg.payload).type
        if kind in OWNTRACKS_UNUSED:
            return Reject(RejectReason.UNSUPPORTED_MESSAGE,
                          f"OwnTracks '{kind}' messages ({OWNTRACKS_UNUSED[kind]}) carry nothing Pingan records", device)
        if kind not in _owntracks:
            return Reject(RejectReason.UNSUPPORTED_MESSAGE, f"OwnTracks message type {kind!r} is not one of "
                                                            "location, lwt, transition", device)
        m = _owntracks[kind].decode(msg.payload)
        if isinstance(m, OwnTracksLwt):
            # the broker sends the last will when the app is gone; its tst is when the app
            # connected, so the time of going offline is the delivery time
            return [DeviceStatus("unit", device, msg.received, False, "owntracks")]
        if isinstance(m, OwnTracksTransition):
            return [Transition(device, m.tst, m.desc, m.event, m.lat, m.lon, m.acc)]
        for name, value in (("vel", m.vel), ("cog", m.cog), ("batt", m.batt)):
            if value is not None and value < 0 and value != -1:
                return Reject(RejectReason.MALFORMED, f"{name} {value} is negative (only -1, unknown, is allowed)",
                              device)
        vel = _unknown(m.vel)
        return [PatrolFix(device, m.tst, m.lat, m.lon, m.acc, None if vel is None else vel / 3.6, _unknown(m.cog),
                          _unknown(m.batt), source="owntracks")]

    def owntracks_other(self, device: str, msg: Message) -> list[Record] | Reject:
        leaf = msg.topic.rsplit("/", 1)[1]
        return Reject(RejectReason.UNSUPPORTED_MESSAGE,
                      f"OwnTracks '{leaf}' messages ({OWNTRACKS_SUBTOPICS[leaf]}) carry nothing Pingan records", device)

    def frigate_stats(self, device: str, msg: Message) -> list[Record] | Reject:
        """Frigate ≥ 0.14 puts the cameras under "cameras"; before, they stood at the top level
        beside "detectors", "service" and the rest."""
        doc = _any.decode(msg.payload)
        if not isinstance(doc, dict):
            return Reject(RejectReason.MALFORMED, "Frigate stats must be a JSON object")
        service = msgspec.convert(doc.get("service") or {}, FrigateService)
        if isinstance(doc.get("cameras"), dict):
            raw = doc["cameras"]
        else:  # the older layout: every object with a camera_fps is a camera
            raw = {k: v for k, v in doc.items() if isinstance(v, dict) and "camera_fps" in v}
        cameras = {name: msgspec.convert(v, FrigateCamera) for name, v in raw.items() if name}
        if not cameras:
            return Reject(RejectReason.EMPTY, "Frigate stats without any camera: nothing to record")
        for name in cameras:
            msgspec.convert(name, Id)
        ts = service.last_updated or msg.received
        return [CameraHealth(name, ts, c.camera_fps > 0, c.camera_fps, process_fps=c.process_fps,
                             skipped_fps=c.skipped_fps, detection_fps=c.detection_fps, source="frigate")
                for name, c in cameras.items()]


_NATIVE: dict[tuple[str, str], Handler] = {
    ("patrol", "gps"): Decoder.gps,
    ("patrol", "duty"): Decoder.duty,
    ("camera", "health"): Decoder.health,
    ("camera", "snapshot"): Decoder.snapshot,
    ("camera", "status"): Decoder.status,
    ("checkpoint", "checkin"): Decoder.checkin,
}


def route(topic: str) -> tuple[Handler | None, str | None]:
    """The decoder of a topic and the device id in it; (None, …) outside the contract."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[:2] == ["pingan", "v1"] and parts[3]:
        if parts[2] == "alerts":  # pingan/v1/alerts/{type}/{subject}: what Pingan itself publishes
            return Decoder.own_output, None
        return _NATIVE.get((parts[2], parts[4])), parts[3]
    if parts[0] == "owntracks" and len(parts) in (3, 4) and parts[1] and parts[2]:
        device = f"{parts[1]}/{parts[2]}"
        if len(parts) == 3 or parts[3] == "event":
            return Decoder.owntracks, device
        if parts[3] in OWNTRACKS_SUBTOPICS:
            return Decoder.owntracks_other, device
        return None, device
    if topic == "frigate/stats":
        return Decoder.frigate_stats, None
    return None, None


def jpeg_problem(data: bytes) -> str | None:
    """Why bytes that start like a JPEG are not one: its markers walked from SOI to the start
    of the scan, an end-of-image marker after it, and the whole decoding (OpenCV)."""
    i, n = 2, len(data)
    while True:
        if i + 4 > n or data[i] != 0xFF:
            return "the JPEG's markers end before its image data"
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2 or i + 2 + length > n:
            return f"a JPEG segment (marker 0x{marker:02X}) runs past the end"
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            break
        i += 2 + length
    if data.rfind(b"\xff\xd9", i) < 0:
        return "the JPEG has no end-of-image marker (truncated)"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if img is None or img.size == 0:
        return "the JPEG does not decode"
    return None


def exif_time(jpeg: bytes) -> float | None:
    """When the picture was taken, from its EXIF DateTimeOriginal with OffsetTimeOriginal (a time
    without an offset is not used: the camera's zone is unknown); None when it does not say."""
    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            exif = im.getexif().get_ifd(0x8769)  # the Exif sub-IFD
        taken, offset = exif.get(0x9003), exif.get(0x9011)  # DateTimeOriginal, OffsetTimeOriginal
        if not taken or not offset:
            return None
        return datetime.strptime(f"{taken.strip()}{offset.strip()}", "%Y:%m:%d %H:%M:%S%z").timestamp()
    except (OSError, ValueError, SyntaxError):
        return None


def _device_of(topic: str) -> str | None:
    return route(topic)[1]


def topic_filters(frigate: str = "stats") -> list[str]:
    """What a worker subscribes to: the whole of its trees, so that a message on a topic outside
    the contract is dead-lettered (unknown_topic), never lost at the broker unseen."""
    return ["pingan/v1/#", "owntracks/#"] + {"stats": ["frigate/stats"], "all": ["frigate/#"], "off": []}[frigate]

