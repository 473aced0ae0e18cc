"""Every payload of the contract, published to a real Mosquitto, lands as the right rows in
PostgreSQL and the right hot state in Redis; every filter rejects with its reason."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from ingest.hotstate import camera_key, latest_position

from ..conftest import query, wait_for

JPEG = cv2.imencode(".jpg", np.full((24, 32, 3), 90, np.uint8))[1].tobytes()  # a real one: it must decode


def count(db_url: str, table: str, where: str = "true", params: tuple = ()) -> int:
    return query(db_url, f"SELECT count(*) FROM pingan.{table} WHERE {where}", params)[0][0]


def test_native_gps_single_and_buffered_batch(start_worker, publisher, db_url, redis_client):
    start_worker()
    now = time.time()
    publisher.publish("pingan/v1/patrol/u01/gps",
                      {"ts": now - 30, "lat": 32.03, "lon": 118.75, "acc": 5.5, "spd": 1.2, "hdg": 90,
                       "batt": 77, "officers": ["p1", "p2"], "seq": 1})
    # a buffered batch after a reconnect: an array, RFC 3339 and epoch times mixed
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 20))
    publisher.publish("pingan/v1/patrol/u01/gps",
                      [{"ts": iso, "lat": 32.034, "lon": 118.7501, "seq": 2},
                       {"ts": now - 10, "lat": 32.036, "lon": 118.75, "seq": 3}])
    publisher.flush()
    wait_for(lambda: count(db_url, "patrol_ping") == 3, what="3 fixes stored")
    rows = query(db_url, "SELECT extract(epoch FROM ts)::float8, lat, lon, acc, spd, hdg, batt, officers, seq, source, cell_id "
                         "FROM pingan.patrol_ping WHERE unit_id = 'u01' ORDER BY ts")
    assert rows[0][1:] == (32.03, 118.75, 5.5, pytest.approx(1.2), 90, 77, ["p1", "p2"], 1, "native", "D1S1G1")
    assert rows[0][0] == pytest.approx(now - 30, abs=1e-3)
    assert rows[1][0] == pytest.approx(int(now - 20), abs=1e-3)
    assert [r[10] for r in rows] == ["D1S1G1", "D1S1G1", "D1S1G3"]
    latest = wait_for(lambda: latest_position(redis_client, "u01"), what="hot state")
    assert float(latest["ts"]) == pytest.approx(now - 10, abs=1e-3)
    assert latest["cell"] == "D1S1G3"
    pos = redis_client.geopos("pingan:unit:geo", "u01")[0]
    assert pos[0] == pytest.approx(118.75, abs=1e-5) and pos[1] == pytest.approx(32.036, abs=1e-5)


def test_camera_health_snapshot_status_and_checkin(start_worker, publisher, db_url, redis_client):
    start_worker()
    now = time.time()
    publisher.publish("pingan/v1/camera/cam01/health",
                      {"ts": now, "online": True, "fps": 24.5, "bitrate_kbps": 2048, "recording": True,
                       "storage_ok": False, "packet_loss": 0.02, "temp_c": 48.0, "uptime_s": 86400})
    publisher.publish("pingan/v1/camera/cam01/snapshot", JPEG)
    publisher.publish("pingan/v1/camera/cam02/status", b"offline", retain=True)
    publisher.publish("pingan/v1/checkpoint/cp-west/checkin",
                      {"ts": now - 5, "officer": "p7", "action": "on", "method": "nfc"})
    publisher.flush()
    wait_for(lambda: count(db_url, "checkin") == 1 and count(db_url, "camera_snapshot") == 1
             and count(db_url, "device_status") == 1 and count(db_url, "camera_health") == 1, what="all rows")
    assert query(db_url, "SELECT online, fps, bitrate_kbps, recording, storage_ok, packet_loss, temp_c, uptime_s, "
                         "source FROM pingan.camera_health")[0] == (
        True, 24.5, 2048, True, False, pytest.approx(0.02), 48.0, 86400, "native")
    size, sha, image = query(db_url, "SELECT size_bytes, sha256, image FROM pingan.camera_snapshot")[0]
    assert size == len(JPEG) and image == JPEG and len(sha) == 64
    assert query(db_url, "SELECT kind, device_id, online FROM pingan.device_status") == [("camera", "cam02", False)]
    assert query(db_url, "SELECT checkpoint_id, officer, action, method FROM pingan.checkin") == [
        ("cp-west", "p7", "on", "nfc")]
    cam = wait_for(lambda: redis_client.hgetall(camera_key("cam01")), what="camera hot state")
    assert cam[b"online"] == b"1" and float(cam[b"fps"]) == 24.5
    assert wait_for(lambda: redis_client.hget(camera_key("cam02"), "status")) == b"offline"
    publisher.publish("pingan/v1/camera/cam02/status", b"", retain=True)  # clearing it is not an event
    publisher.flush()
    wait_for(lambda: count(db_url, "dead_letter") == 1, what="the cleared status accounted for")
    assert count(db_url, "device_status") == 1
    assert query(db_url, "SELECT reason, device_id FROM pingan.dead_letter") == [("empty", "cam02")]


def test_owntracks_and_frigate(start_worker, publisher, db_url):
    query(db_url, "UPDATE pingan.camera SET frigate_name = 'front_door' WHERE camera_id = 'cam05'")
    start_worker()
    now = time.time()
    publisher.publish("owntracks/alice/phone",
                      {"_type": "location", "tst": int(now) - 3, "lat": 32.05, "lon": 118.79, "acc": 8,
                       "vel": 36, "cog": 180, "batt": 64, "tid": "al"})
    # a last will: its tst is when the app connected (an hour ago), not when it went away
    publisher.publish("owntracks/alice/phone", {"_type": "lwt", "tst": int(now) - 3600})
    publisher.publish("frigate/stats", {
        "cameras": {"front_door": {"camera_fps": 5.1, "process_fps": 5.0, "skipped_fps": 0.0,
                                   "detection_fps": 1.2, "pid": 345},
                    "cam06": {"camera_fps": 0.0, "process_fps": 0.0, "skipped_fps": 0.0, "detection_fps": 0.0},
                    "garage": {"camera_fps": 5.0}},
        "service": {"uptime": 1000, "version": "0.14.1", "last_updated": int(now)},
        "detectors": {"coral": {"inference_speed": 9.1}}})
    publisher.flush()
    wait_for(lambda: count(db_url, "camera_health") == 2 and count(db_url, "dead_letter") == 1, what="rows")
    unit, spd, hdg, batt, source, cell = query(
        db_url, "SELECT unit_id, spd, hdg, batt, source, cell_id FROM pingan.patrol_ping")[0]
    # 32.05 N lies on the edge between streets D2S1 and D2S2: the smallest cell id wins
    assert (unit, spd, hdg, batt, source, cell) == ("ot-alice", pytest.approx(10.0), 180, 64, "owntracks", "D2S1G3")
    assert query(db_url, "SELECT kind, device_id, online, source FROM pingan.device_status") == [
        ("unit", "ot-alice", False, "owntracks")]
    offline_at = query(db_url, "SELECT date_part('epoch', ts) FROM pingan.device_status")[0][0]
    assert now - 5 < offline_at < time.time() + 1  # the delivery time
    assert sorted(query(db_url, "SELECT camera_id, online, fps, detection_fps, source FROM pingan.camera_health")) == [
        ("cam05", True, pytest.approx(5.1), pytest.approx(1.2), "frigate"),
        ("cam06", False, 0.0, 0.0, "frigate")]
    # a Frigate camera that is in no registry is rejected by name
    assert query(db_url, "SELECT reason, device_id, topic FROM pingan.dead_letter") == [
        ("unknown_device", "garage", "frigate/stats")]


BAD = [
    # (topic, payload, reason)
    ("pingan/v1/patrol/u02/gps", {"ts": "now", "lat": 1, "lon": 2}, "malformed"),
    ("pingan/v1/patrol/u02/gps", b"\x00\x01garbage", "malformed"),
    ("pingan/v1/patrol/u02/gps", {"lat": 32.03, "lon": 118.75}, "malformed"),
    ("pingan/v1/patrol/u02/gps", {"ts": "2026-01-01T00:00:00", "lat": 32.03, "lon": 118.75}, "malformed"),
    ("pingan/v1/patrol/u02/gps", {"ts": 0, "lat": 91.5, "lon": 118.75}, "invalid_coordinates"),
    ("pingan/v1/patrol/u02/gps", {"ts": 0, "lat": 0.0, "lon": 0.0}, "null_island"),
    ("pingan/v1/patrol/u02/gps", {"ts": "+3600", "lat": 32.03, "lon": 118.75}, "future_timestamp"),
    ("pingan/v1/patrol/u02/gps", {"ts": "-30d", "lat": 32.03, "lon": 118.75}, "stale_timestamp"),
    ("pingan/v1/patrol/u02/gps", {"ts": 0, "lat": 32.03, "lon": 118.75, "acc": 900}, "low_accuracy"),
    ("pingan/v1/patrol/u77/gps", {"ts": 0, "lat": 32.03, "lon": 118.75}, "unknown_device"),
    ("pingan/v1/camera/cam03/health", {"ts": 0, "online": "yes"}, "malformed"),
    ("pingan/v1/camera/cam03/snapshot", b"GIF89a....", "not_jpeg"),
    ("pingan/v1/camera/cam03/snapshot", b"\xff\xd8\xff" + bytes(3000), "oversized"),
    ("pingan/v1/camera/cam03/status", b"sleeping", "malformed"),
    ("pingan/v1/checkpoint/cp-east/checkin", {"ts": 0, "officer": "p1", "action": "maybe"}, "malformed"),
    ("pingan/v1/patrol/u02/gps", {"ts": 0, "lat": 32.03, "lon": 118.75, "pad": "x" * 9000}, "oversized"),
    ("owntracks/alice/phone", {"_type": "waypoint", "tst": 1}, "unsupported_message"),
    ("owntracks/alice/phone", {"_type": "transition", "tst": 1}, "malformed"),  # no event, no region
    ("owntracks/alice/phone/info", {"_type": "card", "name": "Alice"}, "unsupported_message"),
    ("owntracks/alice/phone/nonsense", {"_type": "location"}, "unknown_topic"),
    ("pingan/v1/patrol/u02/gps/extra", {"ts": 0, "lat": 32.03, "lon": 118.75}, "unknown_topic"),
    ("pingan/v1/patrl/u02/gps", {"ts": 0, "lat": 32.03, "lon": 118.75}, "unknown_topic"),
    ("pingan/v1/patrol/u02/gps", b"[" * 3000 + b"]" * 3000, "malformed"),  # nested too deeply
    ("pingan/v1/camera/cam03/snapshot", b"\xff\xd8\xff", "corrupt_image"),
    ("pingan/v1/camera/cam03/snapshot", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(500) + b"\xff\xd9", "corrupt_image"),
    ("frigate/stats", {"cameras": {}, "service": {"uptime": 5}}, "empty"),
    ("owntracks/bob/phone", {"_type": "location", "tst": 0, "lat": 32.03, "lon": 118.75}, "unknown_device"),
]


def _fill(payload, now: float):
    if isinstance(payload, dict):
        out = dict(payload)
        ts = out.get("ts", out.get("tst"))
        key = "ts" if "ts" in out else "tst"
        if ts == 0:
            out[key] = now
        elif ts == "+3600":
            out[key] = now + 3600
        elif ts == "-30d":
            out[key] = now - 30 * 86400
        return out
    return payload


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_filter_rejects_with_its_reason(start_worker, publisher, db_url):
    before = {r: _metric("pingan_ingest_rejected_total", reason=r) for _, _, r in BAD}
    received = _metric("pingan_ingest_messages_received_total")
    start_worker(max_payload_bytes=8192, snapshot_max_bytes=2048, dead_letter_payload_bytes=64)
    now = time.time()
    for topic, payload, _ in BAD:
        publisher.publish(topic, _fill(payload, now))
    publisher.flush()
    wait_for(lambda: count(db_url, "dead_letter") == len(BAD), what="every reject dead-lettered")
    rows = query(db_url, "SELECT topic, reason, detail, payload, payload_size FROM pingan.dead_letter")
    got = sorted((t, r) for t, r, *_ in rows)
    assert got == sorted((t, r) for t, _, r in BAD)
    for _topic, reason, detail, payload, size in rows:
        assert detail, f"{reason} has no detail"
        if reason in ("stale_timestamp", "future_timestamp", "low_accuracy", "oversized"):
            assert "(ingest." in detail, detail  # a limit names its setting
        assert len(payload) <= 64 and size >= len(payload)
    assert count(db_url, "patrol_ping") + count(db_url, "camera_health") + count(db_url, "checkin") == 0
    # and each is counted by reason in the Prometheus metrics
    expected: dict[str, int] = {}
    for _, _, r in BAD:
        expected[r] = expected.get(r, 0) + 1
    assert {r: _metric("pingan_ingest_rejected_total", reason=r) - before[r] for r in expected} == expected
    assert _metric("pingan_ingest_messages_received_total") - received == len(BAD)


def test_impossible_speed_and_duplicates(start_worker, publisher, db_url):
    start_worker(max_speed_mps=50)
    now = time.time()
    fix = {"ts": now - 60, "lat": 32.03, "lon": 118.75}
    publisher.publish("pingan/v1/patrol/u03/gps", fix)
    publisher.publish("pingan/v1/patrol/u03/gps", fix)  # exact duplicate
    publisher.publish("pingan/v1/patrol/u03/gps", {**fix, "lat": 32.0301})  # same unit and time
    # 10 s later, 3 km away: 300 m/s
    publisher.publish("pingan/v1/patrol/u03/gps", {"ts": now - 50, "lat": 32.057, "lon": 118.75})
    publisher.publish("pingan/v1/patrol/u03/gps", {"ts": now - 40, "lat": 32.0302, "lon": 118.7502})
    publisher.flush()
    wait_for(lambda: count(db_url, "patrol_ping") + count(db_url, "dead_letter") == 5, what="5 outcomes")
    assert count(db_url, "patrol_ping") == 2
    assert sorted(r[0] for r in query(db_url, "SELECT reason FROM pingan.dead_letter")) == [
        "duplicate", "duplicate", "impossible_speed"]


def test_snapshot_capture_time_from_a_user_property_makes_redelivery_idempotent(start_worker, publisher, db_url):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    start_worker()
    taken = time.time() - 5
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("ts", f"{taken:.3f}")]
    for _ in range(2):  # the same snapshot twice, as after a redelivery
        publisher.publish("pingan/v1/camera/cam01/snapshot", JPEG, properties=props)
    publisher.publish("pingan/v1/camera/cam01/snapshot", JPEG)  # no property: the receive time
    publisher.flush()
    wait_for(lambda: count(db_url, "camera_snapshot") == 2, what="two snapshot rows")
    time.sleep(0.3)
    rows = query(db_url, "SELECT extract(epoch FROM ts)::float8 FROM pingan.camera_snapshot ORDER BY ts")
    assert rows[0][0] == pytest.approx(taken, abs=1e-3) and rows[1][0] > taken + 4
    assert count(db_url, "dead_letter") == 0  # the second copy was a no-op write, not an error


def test_camera_times_are_the_devices_and_the_worker_records_its_own_uptime(start_worker, publisher, db_url):
    """cam04 says "offline" with its own time; cam02's offline heartbeats arrive late, after
    the online ones that followed them: both are down exactly the 15 minutes they were down."""
    from assessment.standards import Standards
    from assessment.uptime import camera_uptime
    from geofence.sites import Camera, CameraCategory

    from ..conftest import observed

    w = start_worker(heartbeat_s=1)
    t0 = (time.time() // 60) * 60 - 3600  # an hour ago, on the minute
    m = 60.0
    for k in range(0, 51):
        if not 20 <= k < 35:
            publisher.publish("pingan/v1/camera/cam02/health", {"ts": t0 + k * m, "online": True, "fps": 25})
    for k in range(0, 11):
        publisher.publish("pingan/v1/camera/cam04/health", {"ts": t0 + k * m, "online": True})
    publisher.publish("pingan/v1/camera/cam04/status", {"status": "offline", "ts": t0 + 10.5 * m})
    for k in range(0, 25):
        publisher.publish("pingan/v1/camera/cam04/health", {"ts": t0 + (25.5 + k) * m, "online": True})
    publisher.flush()
    for k in range(20, 35):  # the buffered heartbeats of cam02's offline quarter of an hour, sent late
        publisher.publish("pingan/v1/camera/cam02/health", {"ts": t0 + k * m, "online": False})
    publisher.flush()
    wait_for(lambda: count(db_url, "camera_health") == 51 + 11 + 25, what="every heartbeat")
    wait_for(lambda: count(db_url, "device_status") == 1, what="the status")
    assert query(db_url, "SELECT date_part('epoch', ts) FROM pingan.device_status")[0][0] == pytest.approx(t0 + 630)
    observed(db_url, t0 - 3600, time.time())  # the hour before this worker started: declared received
    cams = [Camera("cam02", "", CameraCategory.BUSY_JUNCTION, 25, 0, 0),
            Camera("cam04", "", CameraCategory.KEY_SITE, 25, 0, 0)]
    import psycopg

    with psycopg.connect(db_url) as conn:
        up2, up4 = camera_uptime(conn, cams, Standards(), t0, t0 + 50 * m, time.time())
    assert (up2.down_s, up2.up_s, up2.outages) == (900.0, 2100.0, 1)
    assert (up4.down_s, up4.up_s, up4.outages) == (900.0, 2100.0, 1)
    # the worker's own uptime: one row for this run, moved forward by its heartbeats
    first = wait_for(lambda: query(db_url, "SELECT date_part('epoch', since), date_part('epoch', until), bridged "
                                           "FROM pingan.ingest_uptime WHERE source = 'worker'"), what="an uptime row")
    assert len(first) == 1 and not first[0][2] and first[0][1] >= first[0][0]
    wait_for(lambda: query(db_url, "SELECT date_part('epoch', until) FROM pingan.ingest_uptime "
                                   "WHERE source = 'worker'")[0][0] > first[0][1] + 0.5, what="a later heartbeat")
    assert w.source.receiving


def test_owntracks_transitions_and_checkpoint_regions(start_worker, publisher, db_url):
    """A region named after a checkpoint (its id or its name) is a check-in; any region is stored."""
    start_worker()
    now = time.time()
    for t, event, region in ((now - 300, "enter", "West gate"), (now - 60, "leave", "West gate"),
                             (now - 30, "enter", "Home"), (now - 20, "enter", "cp-east")):
        publisher.publish("owntracks/alice/phone/event", {"_type": "transition", "tst": t, "event": event,
                                                          "desc": region, "lat": 32.05, "lon": 118.742, "acc": 10})
    publisher.flush()
    wait_for(lambda: count(db_url, "transition") == 4 and count(db_url, "checkin") == 3, what="transitions")
    assert sorted(query(db_url, "SELECT checkpoint_id, officer, action, method FROM pingan.checkin")) == [
        ("cp-east", "ot-alice", "on", "gps"), ("cp-west", "ot-alice", "off", "gps"), ("cp-west", "ot-alice", "on", "gps")]
    assert sorted(r[0] for r in query(db_url, "SELECT region FROM pingan.transition")) == [
        "Home", "West gate", "West gate", "cp-east"]
    assert count(db_url, "dead_letter") == 0
