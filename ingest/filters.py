"""Filter stages, modelled on Traccar's FilterHandler: each has one job and returns the record
(possibly rewritten) to keep it, or a Reject with the reason to drop it.

Stateful filters (duplicates, speed) remember per device only what their window needs, so a
worker's memory stays bounded however many messages pass.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Callable, Protocol

import msgspec
from pyproj import Geod

from .records import (CameraHealth, CameraSnapshot, Checkin, DeviceStatus, PatrolFix, Record, Registration,
                      Reject, RejectReason)

_GEOD = Geod(ellps="WGS84")


class Stage(Protocol):
    name: str

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject: ...


class DeviceRegistry(Protocol):
    """What the ingest pipeline needs to know of the registry."""

    def resolve(self, kind: str, wire_id: str, source: str) -> str | None: ...

    def register(self, kind: str, wire_id: str, source: str) -> Registration: ...


_KIND = {PatrolFix: "unit", CameraHealth: "camera", CameraSnapshot: "camera", Checkin: "checkpoint"}


class ResolveDevice:
    """Map the id seen on the wire to a registered device; unknown devices are rejected unless
    auto-registration is on, in which case the registration is queued to be stored."""

    name = "resolve_device"

    def __init__(self, registry: DeviceRegistry, auto_register: bool, on_register: Callable[[Registration], None]):
        self.registry = registry
        self.auto_register = auto_register
        self.on_register = on_register

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject:
        kind = record.kind if isinstance(record, DeviceStatus) else _KIND[type(record)]
        source = getattr(record, "source", "native")
        wire = record.device
        device = self.registry.resolve(kind, wire, source)
        if device is None:
            if not self.auto_register:
                return Reject(RejectReason.UNKNOWN_DEVICE, f"{kind} {wire!r} is not registered", wire)
            reg = self.registry.register(kind, wire, source)
            self.on_register(reg)
            device = reg.device_id
        if device == wire:
            return record
        field = {PatrolFix: "unit_id", CameraHealth: "camera_id", CameraSnapshot: "camera_id",
                 Checkin: "checkpoint_id", DeviceStatus: "device_id"}[type(record)]
        return _replace(record, **{field: device})


def _replace(record: Record, **changes) -> Record:
    return msgspec.structs.replace(record, **changes)


class TimeSanity:
    """Reject timestamps too far in the future (clock skew, ms instead of s) or too old."""

    name = "time_sanity"

    def __init__(self, max_future_s: float, max_age_s: float, clock: Callable[[], float] = time.time):
        self.max_future = max_future_s
        self.max_age = max_age_s
        self.clock = clock

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject:
        now = self.clock()
        ts = record.ts
        if not math.isfinite(ts) or ts > now + self.max_future:
            return Reject(RejectReason.FUTURE_TIMESTAMP, f"ts {ts} is {ts - now:.0f} s ahead", record.device)
        if ts < now - self.max_age:
            return Reject(RejectReason.STALE_TIMESTAMP, f"ts {ts} is {now - ts:.0f} s old", record.device)
        return record


class Coordinates:
    """Reject positions that are not on Earth, and the (0, 0) a GPS chip reports before a fix."""

    name = "coordinates"

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject:
        if not isinstance(record, PatrolFix):
            return record
        lat, lon = record.lat, record.lon
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return Reject(RejectReason.INVALID_COORDINATES, f"lat={lat} lon={lon}", record.unit_id)
        if abs(lat) < 1e-6 and abs(lon) < 1e-6:
            return Reject(RejectReason.NULL_ISLAND, "position is (0, 0)", record.unit_id)
        return record


class Accuracy:
    """Reject fixes whose reported accuracy radius is worse than the threshold."""

    name = "accuracy"

    def __init__(self, max_accuracy_m: float):
        self.max_accuracy = max_accuracy_m

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject:
        if isinstance(record, PatrolFix) and record.acc is not None and record.acc > self.max_accuracy:
            return Reject(RejectReason.LOW_ACCURACY, f"acc {record.acc} m > {self.max_accuracy} m", record.unit_id)
        return record


def _dedup_key(record: Record) -> tuple | None:
    if isinstance(record, PatrolFix):
        return ("u", record.unit_id, record.ts)
    if isinstance(record, CameraHealth):
        return ("c", record.camera_id, record.ts, record.source)
    if isinstance(record, Checkin):
        return ("k", record.checkpoint_id, record.officer, record.ts, record.action)
    return None


class Duplicates:
    """Reject a record whose identity (device and timestamp) was already seen recently.

    A message the broker redelivers (DUP flag, after a reconnect) is not a device duplicate:
    it is let through and the store's unique keys make its second write a no-op.
    """

    name = "duplicates"

    def __init__(self, window: int):
        self.window = window
        self._seen: dict[str, OrderedDict[tuple, Record]] = {}

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject:
        key = _dedup_key(record)
        if key is None:
            return record
        recent = self._seen.get(record.device)
        if recent is None:
            recent = self._seen[record.device] = OrderedDict()
        previous = recent.get(key)
        if previous is not None and not redelivered:
            how = "exact duplicate" if previous == record else "same device and timestamp as an earlier record"
            return Reject(RejectReason.DUPLICATE, how, record.device)
        recent[key] = record
        if len(recent) > self.window:
            recent.popitem(last=False)
        return record


class Speed:
    """Reject a fix whose implied speed from the unit's latest accepted fix is impossible."""

    name = "speed"

    def __init__(self, max_speed_mps: float, horizon_s: float = 3600.0):
        self.max_speed = max_speed_mps
        self.horizon = horizon_s
        self._last: dict[str, tuple[float, float, float]] = {}

    def __call__(self, record: Record, redelivered: bool) -> Record | Reject:
        if not isinstance(record, PatrolFix):
            return record
        last = self._last.get(record.unit_id)
        if last is not None:
            ts, lat, lon = last
            dt = abs(record.ts - ts)
            if 0 < dt <= self.horizon:
                dist = _GEOD.inv(lon, lat, record.lon, record.lat)[2]
                if dist / dt > self.max_speed:
                    return Reject(RejectReason.IMPOSSIBLE_SPEED,
                                  f"{dist:.0f} m in {dt:.1f} s = {dist / dt:.1f} m/s > {self.max_speed} m/s",
                                  record.unit_id)
            if record.ts <= ts:
                return record  # older fix: accepted, but not the new reference
        self._last[record.unit_id] = (record.ts, record.lat, record.lon)
        return record
