"""What travels inward after the boundary and what the store holds: frozen, validated records,
and rejects with reasons. Every layer may import this module; it imports none of them."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import msgspec


class RejectReason(StrEnum):
    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    UNKNOWN_TOPIC = "unknown_topic"
    UNSUPPORTED_MESSAGE = "unsupported_message"
    NOT_JPEG = "not_jpeg"
    CORRUPT_IMAGE = "corrupt_image"  # starts like a JPEG but does not decode
    EMPTY = "empty"  # nothing to record: an empty payload, a retained message cleared, stats without cameras
    UNKNOWN_DEVICE = "unknown_device"
    INVALID_COORDINATES = "invalid_coordinates"
    NULL_ISLAND = "null_island"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    LOW_ACCURACY = "low_accuracy"
    IMPOSSIBLE_SPEED = "impossible_speed"
    DUPLICATE = "duplicate"
    STORE_ERROR = "store_error"  # the database refused the row itself (not an outage)
    INTERNAL_ERROR = "internal_error"  # the worker failed on this input: a bug, kept for replay


class Message(NamedTuple):
    """One MQTT message as received, before anything is trusted."""

    topic: str
    payload: bytes
    received: float  # epoch seconds, this worker's clock
    redelivered: bool = False  # broker's DUP flag: a resend of a message we may have seen
    captured: float | None = None  # MQTT v5 user property "ts" (snapshots: when the image was taken)


class PatrolFix(msgspec.Struct, frozen=True):
    unit_id: str
    ts: float
    lat: float
    lon: float
    acc: float | None = None
    spd: float | None = None  # m/s
    hdg: float | None = None
    batt: float | None = None
    officers: tuple[str, ...] = ()
    seq: int | None = None
    source: str = "native"  # native | owntracks
    cell_id: str | None = None

    @property
    def device(self) -> str:
        return self.unit_id


class CameraHealth(msgspec.Struct, frozen=True):
    camera_id: str
    ts: float
    online: bool
    fps: float | None = None
    bitrate_kbps: float | None = None
    recording: bool | None = None
    storage_ok: bool | None = None
    packet_loss: float | None = None
    temp_c: float | None = None
    uptime_s: float | None = None
    process_fps: float | None = None
    skipped_fps: float | None = None
    detection_fps: float | None = None
    source: str = "native"  # native | frigate

    @property
    def device(self) -> str:
        return self.camera_id


class CameraSnapshot(msgspec.Struct, frozen=True):
    camera_id: str
    ts: float
    size: int
    sha256: str
    image: bytes

    @property
    def device(self) -> str:
        return self.camera_id


class DeviceStatus(msgspec.Struct, frozen=True):
    """Availability announced by a device (retained status, last will, OwnTracks lwt)."""

    kind: str  # camera | unit
    device_id: str
    ts: float
    online: bool
    source: str = "native"

    @property
    def device(self) -> str:
        return self.device_id


class Checkin(msgspec.Struct, frozen=True):
    checkpoint_id: str
    ts: float
    officer: str
    action: str  # on | off
    method: str  # nfc | qr | gps | manual

    @property
    def device(self) -> str:
        return self.checkpoint_id


class Transition(msgspec.Struct, frozen=True):
    """A unit entering or leaving a region it watches (OwnTracks ``transition`` events)."""

    unit_id: str
    ts: float
    region: str
    event: str  # enter | leave
    lat: float | None = None
    lon: float | None = None
    acc: float | None = None
    source: str = "owntracks"

    @property
    def device(self) -> str:
        return self.unit_id


Record = PatrolFix | CameraHealth | CameraSnapshot | DeviceStatus | Checkin | Transition


class Reject(msgspec.Struct, frozen=True):
    reason: RejectReason
    detail: str
    device: str | None = None


class DeadLetter(msgspec.Struct, frozen=True):
    received: float
    topic: str
    reason: RejectReason
    detail: str
    device: str | None
    payload: bytes  # truncated
    payload_size: int
    digest: str | None = None  # of the whole message (topic and payload), to know it again
    redelivered: bool = False  # the broker sent it again: stored only if not stored already


class Registration(msgspec.Struct, frozen=True):
    """A device first seen on the wire and registered automatically."""

    kind: str  # unit | camera | checkpoint
    device_id: str
    alias: str | None = None  # OwnTracks user/device or Frigate camera name


FEED_STREAM = "pingan:feed"  # Redis stream: what the ingest committed, batch by batch (the live feed)
ALERT_STREAM = "pingan:alerts"  # Redis stream: alerts as they open, escalate and resolve
CELL_VISITS = "pingan:cell_visits"  # Redis hash: cell → end of its latest qualifying visit (the alert service's)


class FeedBatch(msgspec.Struct, frozen=True):
    """One committed batch as the live feed carries it (msgpack in a Redis stream entry)."""

    committed: float  # when the ingest committed it (epoch seconds)
    worker: str
    fixes: list[PatrolFix] = []
    health: list[CameraHealth] = []
    statuses: list[DeviceStatus] = []
    checkins: list[Checkin] = []
    snapshots: list[CameraSnapshot] = []

    def __len__(self) -> int:
        return len(self.fixes) + len(self.health) + len(self.statuses) + len(self.checkins) + len(self.snapshots)

    def in_time_order(self) -> list:
        """Every record of the batch, by its time."""
        return sorted([*self.fixes, *self.health, *self.statuses, *self.checkins, *self.snapshots], key=lambda r: r.ts)
