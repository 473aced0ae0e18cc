"""Every message is accounted for: every contract topic and a few dozen hostile messages through
a real Mosquitto and worker. Messages received = messages published; each became a row or a
dead letter with a named reason; no internal error; the worker is still there."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
from prometheus_client import REGISTRY

from ..conftest import query, wait_for

JPEG = cv2.imencode(".jpg", np.full((24, 32, 3), 90, np.uint8))[1].tobytes()


def contract(now: float) -> list[tuple[str, bytes]]:
    """One message of every kind the contract has, each making exactly one row."""
    j = lambda d: json.dumps(d).encode()  # noqa: E731
    return [
        ("pingan/v1/patrol/u01/gps", j({"ts": now - 50, "lat": 32.03, "lon": 118.75, "officers": ["p1"]})),
        ("pingan/v1/camera/cam01/health", j({"ts": now - 50, "online": True, "fps": 25})),
        ("pingan/v1/camera/cam01/snapshot", JPEG),
        ("pingan/v1/camera/cam02/status", j({"status": "offline", "ts": now - 40})),
        ("pingan/v1/checkpoint/cp-west/checkin", j({"ts": now - 30, "officer": "p1", "action": "on", "method": "qr"})),
        ("owntracks/alice/phone", j({"_type": "location", "tst": now - 20, "lat": 32.05, "lon": 118.79, "vel": -1})),
        ("owntracks/alice/phone/event", j({"_type": "transition", "tst": now - 10, "event": "enter", "desc": "Home"})),
        ("frigate/stats", j({"cameras": {"cam05": {"camera_fps": 5.0}}, "service": {"last_updated": now - 5}})),
    ]


def hostile(now: float) -> list[tuple[str, bytes, str]]:
    """(topic, payload, the reason it must be dead-lettered with)."""
    j = lambda d: json.dumps(d).encode()  # noqa: E731
    fix = {"ts": now, "lat": 32.03, "lon": 118.75}
    gps = "pingan/v1/patrol/u02/gps"
    return [
        ("pingan/v1", j(fix), "unknown_topic"),
        ("pingan/v1/patrol/u02", j(fix), "unknown_topic"),
        ("pingan/v1/patrol/u02/gps/extra/levels", j(fix), "unknown_topic"),
        ("pingan/v1/camera/cam01/../cam02/health", j(fix), "unknown_topic"),
        ("pingan/v1/camera/cam01/Health", j(fix), "unknown_topic"),
        ("pingan/v1/patrol//gps", j(fix), "unknown_topic"),
        ("owntracks/alice", j(fix), "unknown_topic"),
        ("owntracks/alice/phone/event/extra", j(fix), "unknown_topic"),
        ("owntracks/alice/phone/cmd", j({"_type": "cmd", "action": "reportLocation"}), "unsupported_message"),
        (gps, b"", "malformed"),
        (gps, b"null", "malformed"),
        (gps, b"{}", "malformed"),
        (gps, b"[]", "malformed"),
        (gps, b'{"ts": NaN, "lat": 1, "lon": 1}', "malformed"),
        (gps, b"\xff\xfe\x00garbage", "malformed"),
        (gps, b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "oversized"),
        (gps, b'{"a":' * 3_000 + b"1" + b"}" * 3_000, "malformed"),
        (gps, j({**fix, "ts": "2026-13-45T99:00:00+08:00"}), "malformed"),
        (gps, j({**fix, "officers": [f"o{k}" for k in range(40)]}), "malformed"),
        (gps, j({**fix, "officers": ["bad\u0001id"]}), "malformed"),
        (gps, j({**fix, "seq": -1}), "malformed"),
        (gps, b'{"ts": 1e400, "lat": 32.03, "lon": 118.75}', "malformed"),  # a number out of range
        (gps, j({**fix, "ts": now + 86_400}), "future_timestamp"),
        (gps, j({**fix, "lat": 95.0}), "invalid_coordinates"),
        ("pingan/v1/camera/cam03/health", j({"ts": now, "online": "yes"}), "malformed"),
        ("pingan/v1/camera/cam03/health", j({"ts": now, "online": True, "fps": -1}), "malformed"),
        ("pingan/v1/camera/cam03/health", j({"ts": now, "online": True, "packet_loss": 2}), "malformed"),
        ("pingan/v1/checkpoint/cp-east/checkin", j({"ts": now, "officer": "p1", "action": "maybe"}), "malformed"),
        ("pingan/v1/checkpoint/cp-east/checkin",
         j({"ts": now, "officer": "p1", "action": "on", "method": "telepathy"}), "malformed"),
        ("pingan/v1/camera/cam03/snapshot", b"", "not_jpeg"),
        ("pingan/v1/camera/cam03/snapshot", b"\xff\xd8\xff", "corrupt_image"),
        ("pingan/v1/camera/cam03/snapshot", JPEG[:40] + bytes(200), "corrupt_image"),
        ("pingan/v1/camera/cam03/status", b"", "empty"),
        ("pingan/v1/camera/cam03/status", b"maybe", "malformed"),
        ("pingan/v1/camera/cam03/status", b'{"status": "sleeping"}', "malformed"),
        ("owntracks/alice/phone", j({"_type": 5}), "malformed"),
        ("owntracks/alice/phone", j({"_type": "location"}), "malformed"),
        ("owntracks/alice/phone", j({"_type": "waypoint", "desc": "x"}), "unsupported_message"),
        ("owntracks/alice/phone", j({"_type": "encrypted", "data": "…"}), "unsupported_message"),
        ("frigate/stats", b"[]", "malformed"),
        ("frigate/stats", j({"cameras": {}}), "empty"),
        ("frigate/stats", j({"cameras": {"": {"camera_fps": 5}}}), "empty"),
        ("frigate/stats", j({"cameras": {"cam05": {"camera_fps": -1}}}), "malformed"),
        ("pingan/v1/patrol/intruder/gps", j(fix), "unknown_device"),
    ]


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_message_is_a_row_or_a_dead_letter(start_worker, publisher, db_url):
    query(db_url, "UPDATE pingan.camera SET frigate_name = 'cam05' WHERE camera_id = 'cam05'")
    w = start_worker(max_payload_bytes=65536)
    now = time.time()
    good = contract(now)
    bad = hostile(now)
    received = _metric("pingan_ingest_messages_received_total")
    for topic, payload in good:
        publisher.publish(topic, payload)
    for topic, payload, _ in bad:
        publisher.publish(topic, payload)
    publisher.flush()
    tables = ("patrol_ping", "camera_health", "camera_snapshot", "device_status", "checkin", "transition")

    def rows() -> int:
        return sum(query(db_url, f"SELECT count(*) FROM pingan.{t}")[0][0] for t in tables)

    def dead() -> int:
        return query(db_url, "SELECT count(*) FROM pingan.dead_letter")[0][0]

    published = len(good) + len(bad)
    wait_for(lambda: rows() + dead() == published, 30, what=f"all {published} messages accounted for")
    time.sleep(0.5)
    assert _metric("pingan_ingest_messages_received_total") - received == published
    assert rows() == len(good) and dead() == len(bad)
    got = sorted(query(db_url, "SELECT topic, reason FROM pingan.dead_letter"))
    assert got == sorted((t.replace("\x00", "\\x00"), r) for t, _, r in bad)
    assert not query(db_url, "SELECT * FROM pingan.dead_letter WHERE reason = 'internal_error'")
    assert w.thread.is_alive() and w.source.receiving
