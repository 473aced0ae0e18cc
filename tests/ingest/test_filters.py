"""Each filter stage on its own: a timeline of inputs, plain values, no services."""

from __future__ import annotations

import pytest

from ingest.directory import DeviceDirectory
from ingest.filters import Accuracy, Coordinates, Duplicates, ResolveDevice, Speed, TimeSanity
from store.records import CameraHealth, Checkin, PatrolFix, Reject, RejectReason
from store.registry import RegistrySnapshot

NOW = 1_800_000_000.0


def fix(ts: float = NOW, lat: float = 32.03, lon: float = 118.75, unit: str = "u1", **kw) -> PatrolFix:
    return PatrolFix(unit, ts, lat, lon, **kw)


def reason(result) -> RejectReason | None:
    return result.reason if isinstance(result, Reject) else None


def one(stage, record, redelivered: bool = False):
    """A stage applied to a batch of one record."""
    (verdict,) = stage([record], [redelivered])
    return verdict


@pytest.mark.parametrize("lat, lon, expected", [
    (32.03, 118.75, None),
    (90.0, 180.0, None),
    (-90.0, -180.0, None),
    (90.0001, 0.5, RejectReason.INVALID_COORDINATES),
    (10.0, -180.5, RejectReason.INVALID_COORDINATES),
    (float("nan"), 1.0, RejectReason.INVALID_COORDINATES),
    (float("inf"), 1.0, RejectReason.INVALID_COORDINATES),
    (0.0, 0.0, RejectReason.NULL_ISLAND),
    (0.0, 0.001, None),  # near (0, 0) but a real position
])
def test_coordinates(lat, lon, expected):
    assert reason(one(Coordinates(), fix(lat=lat, lon=lon))) == expected


def test_time_sanity_bounds_are_inclusive():
    stage = TimeSanity(max_future_s=300, max_age_s=3600, clock=lambda: NOW)
    assert reason(one(stage, fix(NOW + 300), False)) is None
    assert reason(one(stage, fix(NOW + 300.5), False)) == RejectReason.FUTURE_TIMESTAMP
    assert reason(one(stage, fix(NOW * 1000), False)) == RejectReason.FUTURE_TIMESTAMP  # milliseconds sent as seconds
    assert reason(one(stage, fix(NOW - 3600), False)) is None
    assert reason(one(stage, fix(NOW - 3601), False)) == RejectReason.STALE_TIMESTAMP
    assert reason(one(stage, CameraHealth("c1", NOW + 900, True), False)) == RejectReason.FUTURE_TIMESTAMP


def test_accuracy():
    stage = Accuracy(50)
    assert reason(one(stage, fix(acc=50), False)) is None
    assert reason(one(stage, fix(acc=50.1), False)) == RejectReason.LOW_ACCURACY
    assert reason(one(stage, fix(acc=None), False)) is None  # not reported: nothing to judge


def test_speed_from_previous_fix_and_out_of_order():
    stage = Speed(max_speed_mps=30)
    assert reason(one(stage, fix(NOW), False)) is None
    # 0.001° of latitude ≈ 110.9 m; in 5 s that is ≈ 22 m/s: fine
    assert reason(one(stage, fix(NOW + 5, lat=32.031), False)) is None
    # another 0.002° (≈ 222 m) in 5 s ≈ 44 m/s: impossible
    r = one(stage, fix(NOW + 10, lat=32.033), False)
    assert reason(r) == RejectReason.IMPOSSIBLE_SPEED and "m/s" in r.detail
    # the rejected fix did not become the reference: the next plausible one is judged from 32.031
    assert reason(one(stage, fix(NOW + 15, lat=32.032), False)) is None
    # an older fix (out of order) is checked against the latest but does not replace it
    assert reason(one(stage, fix(NOW + 12, lat=32.0315), False)) is None
    assert reason(one(stage, fix(NOW + 20, lat=32.033), False)) is None
    # another unit is judged on its own
    assert reason(one(stage, fix(NOW, lat=10.0, unit="u2"), False)) is None


def test_duplicates_window_and_redelivery():
    stage = Duplicates(window=2)
    a, b, c = fix(NOW), fix(NOW + 1), fix(NOW + 2)
    assert reason(one(stage, a, False)) is None
    r = one(stage, a, False)
    assert reason(r) == RejectReason.DUPLICATE and r.detail == "exact duplicate"
    r = one(stage, fix(NOW, lat=40.0), False)
    assert reason(r) == RejectReason.DUPLICATE and "same device and timestamp" in r.detail
    assert reason(one(stage, a, True)) is None  # a broker redelivery is not a device duplicate
    assert reason(one(stage, b, False)) is None
    assert reason(one(stage, c, False)) is None
    assert reason(one(stage, a, False)) is None  # out of the 2-record window: the store's key catches it
    checkin = Checkin("cp", NOW, "p1", "on", "nfc")
    assert reason(one(stage, checkin, False)) is None
    assert reason(one(stage, checkin, False)) == RejectReason.DUPLICATE


def test_resolve_device_rejects_or_registers():
    snap = RegistrySnapshot(units={"u1"}, owntracks={"al/ph": "u1"}, cameras={"c1"}, frigate={"door": "c1"})
    registered = []
    strict = ResolveDevice(DeviceDirectory(snap), False, registered.append)
    assert one(strict, fix(unit="u1")).unit_id == "u1"
    assert one(strict, fix(unit="al/ph", source="owntracks")).unit_id == "u1"
    assert one(strict, CameraHealth("door", NOW, True, source="frigate")).camera_id == "c1"
    r = one(strict, fix(unit="u9"))
    assert reason(r) == RejectReason.UNKNOWN_DEVICE and r.device == "u9"
    auto = ResolveDevice(DeviceDirectory(RegistrySnapshot()), True, registered.append)
    assert one(auto, fix(unit="u9")).unit_id == "u9"
    assert one(auto, fix(unit="bob/phone", source="owntracks")).unit_id == "ot-bob-phone"
    assert one(auto, fix(unit="bob/phone", source="owntracks")).unit_id == "ot-bob-phone"  # once
    assert [(r.kind, r.device_id, r.alias) for r in registered] == [
        ("unit", "u9", None), ("unit", "ot-bob-phone", "bob/phone")]


def test_speed_over_a_batch_matches_one_at_a_time():
    """The batched distance shortcut gives the same verdicts as judging each fix alone."""
    import random

    rnd = random.Random(3)
    fixes = []
    for _ in range(400):
        unit = f"u{rnd.randrange(4)}"
        fixes.append(fix(NOW + rnd.uniform(0, 600), lat=32.03 + rnd.uniform(0, 0.02), unit=unit))
    batched = [reason(v) for v in Speed(30)(fixes, [False] * len(fixes))]
    single_stage = Speed(30)
    single = [reason(one(single_stage, f)) for f in fixes]
    assert batched == single
    assert RejectReason.IMPOSSIBLE_SPEED in batched and None in batched
