"""Filter stages, modelled on Traccar's FilterHandler, each with one job.

A stage takes the records of a batch in arrival order and returns, position by position, the
record to keep (possibly rewritten) or a Reject with the reason. Working on a whole batch lets
a stage do its arithmetic once per batch (pyproj over arrays) instead of once per record.

Stateful filters (duplicates, speed) remember per device only what their window needs, so a
worker's memory stays bounded however many messages pass.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Protocol, Sequence

import msgspec
import numpy as np
from pyproj import Geod

from store.records import (
    CameraHealth,
    CameraSnapshot,
    Checkin,
    DeviceStatus,
    PatrolFix,
    Record,
    Registration,
    Reject,
    RejectReason,
    Transition,
)

_GEOD = Geod(ellps="WGS84")

Verdicts = list[Record | Reject]


class Stage(Protocol):
    name: str

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts: ...


class DeviceRegistry(Protocol):
    """What the ingest pipeline needs to know of the registry."""

    def resolve(self, kind: str, wire_id: str, source: str) -> str | None: ...

    def register(self, kind: str, wire_id: str, source: str) -> Registration: ...


_KIND = {PatrolFix: "unit", CameraHealth: "camera", CameraSnapshot: "camera", Checkin: "checkpoint",
         Transition: "unit"}
_ID_FIELD = {PatrolFix: "unit_id", CameraHealth: "camera_id", CameraSnapshot: "camera_id",
             Checkin: "checkpoint_id", DeviceStatus: "device_id", Transition: "unit_id"}


class ResolveDevice:
    """Map the id seen on the wire to a registered device; unknown devices are rejected unless
    auto-registration is on, in which case the registration is queued to be stored."""

    name = "resolve_device"

    def __init__(self, registry: DeviceRegistry, auto_register: bool, on_register: Callable[[Registration], None]):
        self.registry = registry
        self.auto_register = auto_register
        self.on_register = on_register

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts:
        return [self._one(r) for r in records]

    def _one(self, record: Record) -> Record | Reject:
        kind = record.kind if type(record) is DeviceStatus else _KIND[type(record)]
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
        return msgspec.structs.replace(record, **{_ID_FIELD[type(record)]: device})


class TimeSanity:
    """Reject timestamps too far in the future (clock skew, ms instead of s) or too old."""

    name = "time_sanity"

    def __init__(self, max_future_s: float, max_age_s: float, clock: Callable[[], float] = time.time):
        self.max_future = max_future_s
        self.max_age = max_age_s
        self.clock = clock

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts:
        now = self.clock()
        newest, oldest = now + self.max_future, now - self.max_age
        out: Verdicts = []
        for r in records:
            ts = r.ts
            if not ts <= newest:  # also NaN
                out.append(Reject(RejectReason.FUTURE_TIMESTAMP, f"ts {ts} is {ts - now:.0f} s ahead "
                                                                 f"(ingest.max_future_s = {self.max_future:g})", r.device))
            elif ts < oldest:
                out.append(Reject(RejectReason.STALE_TIMESTAMP, f"ts {ts} is {now - ts:.0f} s old "
                                                                f"(ingest.max_age_s = {self.max_age:g})", r.device))
            else:
                out.append(r)
        return out


class Coordinates:
    """Reject positions that are not on Earth, and the (0, 0) a GPS chip reports before a fix."""

    name = "coordinates"

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts:
        out: Verdicts = []
        for r in records:
            if type(r) is PatrolFix:
                lat, lon = r.lat, r.lon
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also NaN
                    r = Reject(RejectReason.INVALID_COORDINATES, f"lat={lat} lon={lon}", r.unit_id)
                elif abs(lat) < 1e-6 and abs(lon) < 1e-6:
                    r = Reject(RejectReason.NULL_ISLAND, "position is (0, 0)", r.unit_id)
            out.append(r)
        return out


class Accuracy:
    """Reject fixes whose reported accuracy radius is worse than the threshold."""

    name = "accuracy"

    def __init__(self, max_accuracy_m: float):
        self.max_accuracy = max_accuracy_m

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts:
        out: Verdicts = []
        for r in records:
            if type(r) is PatrolFix and r.acc is not None and r.acc > self.max_accuracy:
                r = Reject(RejectReason.LOW_ACCURACY, f"acc {r.acc} m > {self.max_accuracy:g} m "
                                                      "(ingest.max_accuracy_m)", r.unit_id)
            out.append(r)
        return out


def _dedup_key(record: Record) -> tuple | None:
    t = type(record)
    if t is PatrolFix:
        return (record.ts,)
    if t is CameraHealth:
        return (record.ts, record.source)
    if t is Checkin:
        return (record.officer, record.ts, record.action)
    if t is Transition:
        return (record.ts, record.region, record.event)
    return None


class Duplicates:
    """Reject a record whose identity (device and timestamp) was already seen recently.

    A message the broker redelivers (DUP flag, after a reconnect) is not a device duplicate:
    it is let through and the store's unique keys make its second write a no-op.
    """

    name = "duplicates"

    def __init__(self, window: int):
        self.window = window
        self._seen: dict[tuple[type, str], OrderedDict[tuple, Record]] = {}

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts:
        out: Verdicts = []
        for r, dup in zip(records, redelivered, strict=True):
            key = _dedup_key(r)
            if key is not None:
                device = (type(r), r.device)
                recent = self._seen.get(device)
                if recent is None:
                    recent = self._seen[device] = OrderedDict()
                previous = recent.get(key)
                if previous is not None and not dup:
                    how = "exact duplicate" if previous == r else "same device and timestamp as an earlier record"
                    out.append(Reject(RejectReason.DUPLICATE, how, r.device))
                    continue
                recent[key] = r
                if len(recent) > self.window:
                    recent.popitem(last=False)
            out.append(r)
        return out


class Speed:
    """Reject a fix whose implied speed from the unit's latest accepted fix is impossible.

    The reference is the unit's newest accepted fix; an older fix arriving late is judged
    against it but does not replace it. Distances are geodesic (WGS-84, pyproj), computed for
    the whole batch in one call on the usual assumption that each fix follows the previous
    one; where a rejection or a late fix breaks that, the distance is computed again.
    """

    name = "speed"

    def __init__(self, max_speed_mps: float, horizon_s: float = 3600.0):
        self.max_speed = max_speed_mps
        self.horizon = horizon_s
        self._last: dict[str, tuple[float, float, float]] = {}  # unit → (ts, lat, lon)

    def __call__(self, records: Sequence[Record], redelivered: Sequence[bool]) -> Verdicts:
        out: Verdicts = list(records)
        fixes = [i for i, r in enumerate(records) if type(r) is PatrolFix]
        if not fixes:
            return out
        # Guess each fix's reference: the unit's previous fix in this batch, else the state.
        guess: list[tuple[float, float, float] | None] = []
        previous: dict[str, tuple[float, float, float]] = {}
        for i in fixes:
            f = records[i]
            ref = previous.get(f.unit_id) or self._last.get(f.unit_id)
            guess.append(ref)
            if ref is None or f.ts > ref[0]:
                previous[f.unit_id] = (f.ts, f.lat, f.lon)
        has = [k for k, g in enumerate(guess) if g is not None]
        dist = np.full(len(fixes), np.nan)
        if has:
            lon0 = np.array([guess[k][2] for k in has])
            lat0 = np.array([guess[k][1] for k in has])
            lon1 = np.array([records[fixes[k]].lon for k in has])
            lat1 = np.array([records[fixes[k]].lat for k in has])
            dist[has] = _GEOD.inv(lon0, lat0, lon1, lat1)[2]
        for k, i in enumerate(fixes):
            f = records[i]
            ref = self._last.get(f.unit_id)
            if ref is not None:
                ts, lat, lon = ref
                dt = abs(f.ts - ts)
                if 0 < dt <= self.horizon:
                    d = dist[k] if guess[k] == ref else _GEOD.inv(lon, lat, f.lon, f.lat)[2]
                    if d / dt > self.max_speed:
                        out[i] = Reject(RejectReason.IMPOSSIBLE_SPEED,
                                        f"{d:.0f} m in {dt:.1f} s = {d / dt:.1f} m/s > {self.max_speed:g} m/s "
                                        "(ingest.max_speed_mps)",
                                        f.unit_id)
                        continue
                if f.ts <= ts:
                    continue  # an older fix: accepted, but not the new reference
            self._last[f.unit_id] = (f.ts, f.lat, f.lon)
        return out
