"""Decoding and validation never raise: every input is accepted or rejected with a reason."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.directory import DeviceDirectory
from ingest.pipeline import build_pipeline
from ingest.settings import IngestSettings
from store.records import CameraHealth, CameraSnapshot, Checkin, DeviceStatus, Message, PatrolFix, RejectReason
from store.registry import RegistrySnapshot

NOW = 1_800_000_000.0

TOPICS = ["pingan/v1/patrol/{id}/gps", "pingan/v1/camera/{id}/health", "pingan/v1/camera/{id}/snapshot",
          "pingan/v1/camera/{id}/status", "pingan/v1/checkpoint/{id}/checkin", "owntracks/{id}/{id}",
          "frigate/stats", "pingan/v2/patrol/{id}/gps", "{id}", "pingan/v1/{id}/{id}/{id}"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=30)
plausible = st.fixed_dictionaries({}, optional={
    "ts": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=30),
                    st.just("2026-11-29T08:00:00+08:00"), st.just(NOW)),
    "lat": st.floats(allow_nan=True, allow_infinity=True), "lon": st.floats(allow_nan=True, allow_infinity=True),
    "acc": json_values, "spd": json_values, "online": json_values, "fps": json_values, "officer": json_values,
    "action": st.sampled_from(["on", "off", "x"]), "officers": json_values, "seq": st.integers(),
    "_type": st.sampled_from(["location", "lwt", "transition", 5]), "tst": json_values,
    "cameras": st.dictionaries(st.text(max_size=8), json_values, max_size=3)})
payloads = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    plausible.map(lambda v: json.dumps(v).encode()),
    st.lists(plausible, max_size=4).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=1100).map(lambda b: b"\xff\xd8\xff" + b))
ids = st.text(min_size=0, max_size=12).filter(lambda s: "/" not in s)
topics = st.one_of(st.text(max_size=60),
                   st.tuples(st.sampled_from(TOPICS), ids, ids).map(lambda t: t[0].replace("{id}", t[1], 1)
                                                                    .replace("{id}", t[2])))

RECORDS = (PatrolFix, CameraHealth, CameraSnapshot, DeviceStatus, Checkin)


def make_pipeline(auto: bool):
    cfg = IngestSettings(max_payload_bytes=512, snapshot_max_bytes=1024, auto_register=auto, max_age_s=10 * 365 * 86400)
    snap = RegistrySnapshot(units={"u1"}, cameras={"c1"}, checkpoints={"k1"})
    return build_pipeline(cfg, DeviceDirectory(snap), lambda r: None, clock=lambda: NOW)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=payloads, redelivered=st.booleans(), auto=st.booleans())
def test_never_raises_and_every_outcome_has_a_reason(topic, payload, redelivered, auto):
    out = make_pipeline(auto).process(Message(topic, payload, NOW, redelivered))
    for record in out.records:
        assert isinstance(record, RECORDS)
    for dead in out.rejects:
        assert isinstance(dead.reason, RejectReason)
        assert dead.detail and "\x00" not in dead.detail and "\x00" not in dead.topic
        assert dead.payload_size == len(payload) and len(dead.payload) <= 2048
    # a message yields something, except the contract's "nothing to record" cases
    if not out.records and not out.rejects:
        assert topic == "frigate/stats" or (topic.endswith("/status") and payload == b"")


@settings(max_examples=300, deadline=None)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), ts=st.floats(NOW - 3600, NOW),
       acc=st.none() | st.floats(0, 100))
def test_valid_fixes_are_accepted_as_sent(lat, lon, ts, acc):
    body = {"ts": ts, "lat": lat, "lon": lon} | ({"acc": acc} if acc is not None else {})
    out = make_pipeline(False).process(Message("pingan/v1/patrol/u1/gps", json.dumps(body).encode(), NOW))
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        assert [d.reason for d in out.rejects] == [RejectReason.NULL_ISLAND]
        return
    assert not out.rejects
    (fix,) = out.records
    assert (fix.unit_id, fix.ts, fix.lat, fix.lon, fix.acc) == ("u1", ts, lat, lon, acc)


def test_deeply_nested_json_is_malformed_on_every_topic():
    """A payload nested 50,000 levels deep used to raise RecursionError (an internal_error)."""
    from ingest.decode import Decoder

    decode = Decoder(10**7, 10**7)
    deep_object = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    deep_array = b"[" * 50_000 + b"]" * 50_000
    for topic in ("pingan/v1/patrol/u1/gps", "pingan/v1/camera/c1/health", "pingan/v1/camera/c1/status",
                  "pingan/v1/checkpoint/cp/checkin", "owntracks/a/b", "owntracks/a/b/event", "frigate/stats"):
        for payload in (deep_object, deep_array, b'{"_type": "location", "x": ' + deep_array + b"}"):
            out = decode(Message(topic, payload, NOW))
            assert out.reason is RejectReason.MALFORMED, (topic, out)


def test_owntracks_and_frigate_as_real_clients_send_them():
    from ingest.decode import Decoder

    decode = Decoder(65536, 10**6)
    # older iOS apps send -1 for "unknown" speed and course: a fix with those unknown, not a reject
    (fix,) = decode(Message("owntracks/a/b", json.dumps(
        {"_type": "location", "tst": NOW, "lat": 32.0, "lon": 118.8, "vel": -1, "cog": -1, "batt": 50}).encode(), NOW))
    assert (fix.spd, fix.hdg, fix.batt) == (None, None, 50)
    assert decode(Message("owntracks/a/b", json.dumps(
        {"_type": "location", "tst": NOW, "lat": 32.0, "lon": 118.8, "vel": -5}).encode(), NOW)).reason is \
        RejectReason.MALFORMED
    # a transition event, on the event subtopic
    (t,) = decode(Message("owntracks/a/b/event", json.dumps(
        {"_type": "transition", "tst": NOW, "event": "enter", "desc": "West gate", "lat": 32.05, "lon": 118.74,
         "acc": 12, "t": "c"}).encode(), NOW))
    assert (t.unit_id, t.region, t.event, t.ts) == ("a/b", "West gate", "enter", NOW)
    for kind in ("waypoint", "card", "status"):
        r = decode(Message("owntracks/a/b", json.dumps({"_type": kind}).encode(), NOW))
        assert r.reason is RejectReason.UNSUPPORTED_MESSAGE and "carry nothing Pingan records" in r.detail
    # Frigate before 0.14 had its cameras at the top level; without cameras there is nothing to record
    rows = decode(Message("frigate/stats", json.dumps(
        {"front": {"camera_fps": 5.0, "process_fps": 5.0, "skipped_fps": 0, "detection_fps": 1.0},
         "detection_fps": 1.0, "detectors": {"cpu": {"inference_speed": 10}},
         "service": {"uptime": 10, "last_updated": NOW}}).encode(), NOW))
    assert [(h.camera_id, h.fps, h.ts) for h in rows] == [("front", 5.0, NOW)]
    assert decode(Message("frigate/stats", b'{"cameras": {}}', NOW)).reason is RejectReason.EMPTY
    assert decode(Message("frigate/stats", b'{"service": {"uptime": 3}}', NOW)).reason is RejectReason.EMPTY


def test_a_snapshot_is_a_jpeg_only_if_it_decodes():
    import cv2
    import numpy as np

    from ingest.decode import Decoder

    decode = Decoder(65536, 10**6)
    real = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))[1].tobytes()
    assert isinstance(decode(Message("pingan/v1/camera/c/snapshot", real, NOW)), list)
    for bad in (b"\xff\xd8\xff", real[:len(real) // 2], real[:20] + bytes(400) + b"\xff\xd9",
                b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(300) + b"\xff\xd9"):
        r = decode(Message("pingan/v1/camera/c/snapshot", bad, NOW))
        assert r.reason is RejectReason.CORRUPT_IMAGE, (bad[:30], r)
    assert decode(Message("pingan/v1/camera/c/snapshot", b"GIF89a", NOW)).reason is RejectReason.NOT_JPEG
