"""The alert service against the real Mosquitto, PostgreSQL and Redis: what an operator sees
(the alert in the database and on the command line, on MQTT, on the Redis stream), a restart
that neither loses nor duplicates an open alert, and a Redis that lost its data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import psycopg
import redis

from alerts.image import diagnose
from alerts.notify import Dispatcher, MqttNotifier, StreamNotifier
from alerts.service import AlertService
from alerts.settings import AlertSettings
from assessment.standards import Standards
from ingest.mqtt import BrokerAddress
from simulators.fleet import with_exif_time
from store.records import ALERT_STREAM

from ..conftest import REDIS_URL, query, wait_for
from .test_image import jpeg, scene

CAMERAS = [f"cam{k:02d}" for k in range(1, 13)]


class Listener:
    """An MQTT client subscribed to pingan/v1/alerts/#, as a command centre's client would be."""

    def __init__(self, url: str):
        addr = BrokerAddress.parse(url)
        self.got: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"listener-{os.getpid()}-{time.time()}")
        self.client.on_connect = lambda c, *_: c.subscribe("pingan/v1/alerts/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, json.loads(m.payload)))
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def service(broker_url: str, db_url: str, client: redis.Redis, diagnose=None, **settings) -> AlertService:
    s = AlertSettings(sweep_every_s=0.2, group_window_s=0, **settings)
    addr = BrokerAddress.parse(broker_url)
    notifiers = [StreamNotifier(client, ALERT_STREAM),
                 MqttNotifier(addr.host, addr.port, client_id=f"alerts-test-{os.getpid()}-{time.time()}")]
    return AlertService(s, Standards(), lambda: psycopg.connect(db_url, application_name="alerts-test"), client,
                        Dispatcher(notifiers, 0), consumer="alerts-test", diagnose=diagnose)


def heartbeats(publisher, at: float, skip=()):
    for cam in CAMERAS:
        if cam not in skip:
            publisher.publish(f"pingan/v1/camera/{cam}/health", {"ts": at, "online": True, "fps": 25.0,
                                                                 "recording": True, "storage_ok": True})


def open_alerts(db_url: str) -> list[tuple]:
    """Open camera alerts (the demo city, unpatrolled today, has coverage gaps and understaffed checkpoints too)."""
    return query(db_url, "SELECT type, subject, state FROM pingan.alert WHERE state <> 'resolved' "
                         "AND subject LIKE 'cam%%' ORDER BY 1, 2")


def test_an_offline_camera_is_stored_published_and_survives_restart_and_redis_loss(
        broker, db_url, redis_client, start_worker, publisher):
    start_worker()
    listener = Listener(broker.url)
    svc = service(broker.url, db_url, redis_client, clear_for_s={"camera_offline": 0}).start()
    assert svc.ready.wait(30)
    now = time.time()
    heartbeats(publisher, now - 400)
    publisher.publish("pingan/v1/camera/cam01/status", {"status": "offline", "ts": now - 300})
    heartbeats(publisher, now - 10, skip=("cam01",))
    publisher.flush()
    wait_for(lambda: open_alerts(db_url) == [("camera_offline", "cam01", "open")], 30, what="camera_offline opened")
    # what the command centre's MQTT clients and the API's WebSocket (the Redis stream) receive
    wait_for(lambda: any(t == "pingan/v1/alerts/camera_offline/cam01" for t, _ in listener.got), 10,
             what="the alert on MQTT")
    topic, msg = next(x for x in listener.got if x[0].endswith("/cam01"))
    assert msg["type"] == "camera_offline" and msg["subject"] == "cam01" and msg["state"] == "open"
    assert msg["severity"] == "major" and abs(msg["since"] - (now - 300)) < 1e-3 and msg["event"] == "open"
    assert msg["scope"]["category"] and msg["scope"]["street"]
    entries = redis_client.xrange(ALERT_STREAM)
    assert [json.loads(f[b"alert"])["subject"] for _, f in entries].count("cam01") == 1
    # a restart (another instance, same consumer name): the open alert is neither lost nor opened again
    svc.stop()
    svc.dispatcher.close()
    # … which closed its database connections as it stopped (not left to the garbage collector)
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'alerts-test' "
                                   "AND datname = current_database()") == [(0,)], 5, what="connections closed")
    svc = service(broker.url, db_url, redis_client, clear_for_s={"camera_offline": 0}).start()
    assert svc.ready.wait(30)
    heartbeats(publisher, time.time() - 5, skip=("cam01",))
    publisher.flush()
    time.sleep(2.0)
    assert open_alerts(db_url) == [("camera_offline", "cam01", "open")]
    assert query(db_url, "SELECT type, subject FROM pingan.alert WHERE subject LIKE 'cam%%'") == [
        ("camera_offline", "cam01")]
    # Redis loses everything (stream, group, hot state); the camera comes back meanwhile
    redis_client.flushdb()
    publisher.publish("pingan/v1/camera/cam01/status", {"status": "online", "ts": time.time() - 2})
    heartbeats(publisher, time.time() - 1)
    publisher.flush()
    wait_for(lambda: open_alerts(db_url) == [], 30, what="camera_offline resolved after Redis lost its data")
    events = query(db_url, "SELECT action, actor FROM pingan.alert_event JOIN pingan.alert USING (alert_id) "
                           "WHERE subject = 'cam01' ORDER BY ts, action")
    assert [e[0] for e in events] == ["open", "resolve"] and events[1][1] == "pingan"
    assert svc.stats.reconciled > 0
    svc.stop()
    svc.dispatcher.close()
    listener.close()


def test_a_turned_camera_raises_scene_change_until_a_maintainer_accepts_its_new_view(
        broker, db_url, redis_client, start_worker, publisher):
    start_worker()
    svc = service(broker.url, db_url, redis_client, diagnose=diagnose,
                  clear_for_s={"image_scene_change": 0}).start()
    assert svc.ready.wait(30)
    street, turned = jpeg(scene(1)), jpeg(scene(9))
    now = time.time()

    def snap(image: bytes, at: float) -> None:  # stamped with its time, as IP cameras do
        publisher.publish("pingan/v1/camera/cam02/snapshot", with_exif_time(image, at))
        publisher.flush()

    snap(street, now - 300)
    snap(street, now - 240)  # healthy: its first view in colour is its reference, kept in the database
    wait_for(lambda: query(db_url, "SELECT light, accepted_by FROM pingan.camera_reference WHERE camera_id = "
                                   "'cam02'") == [("colour", "pingan-alerts")], 30, what="the reference view stored")
    snap(turned, now - 180)
    snap(turned, now - 120)
    scene_change = "SELECT state FROM pingan.alert WHERE type = 'image_scene_change' AND subject = 'cam02'"
    wait_for(lambda: query(db_url, scene_change) == [("open",)], 30, what="image_scene_change opened")
    # the camera was turned on purpose: the maintainer accepts its new view
    out = pingan(db_url, "accept-view", "cam02", "--by", "maint-zhao")
    assert out.returncode == 0 and "colour light" in out.stdout and "maint-zhao" in out.stdout, out.stderr
    assert query(db_url, "SELECT accepted_by, image = %s FROM pingan.camera_reference WHERE camera_id = 'cam02'",
                 (with_exif_time(turned, now - 120),)) == [("maint-zhao", True)]
    time.sleep(6.0)  # the service looks at what operators did every 5 s
    snap(turned, now - 60)
    wait_for(lambda: query(db_url, scene_change) == [("resolved",)], 30, what="image_scene_change resolved")
    missing = pingan(db_url, "accept-view", "cam-nowhere")
    assert missing.returncode == 2 and "no snapshot of camera 'cam-nowhere'" in missing.stderr
    svc.stop()
    svc.dispatcher.close()


def pingan(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PINGAN_DATABASE_URL": db_url, "PINGAN_REDIS_URL": REDIS_URL}
    return subprocess.run([sys.executable, "-m", "pingan.cli", "alerts", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_operators_list_show_acknowledge_resolve_and_silence_from_the_command_line(db_url):
    from store import alerts as store

    with psycopg.connect(db_url) as conn:
        store.open_alert(conn, {"alert_id": "00000000-0000-4000-8000-000000000001", "type": "camera_offline",
                                "subject": "cam03", "severity": "major", "since": 1_795_000_000.0,
                                "opened_at": 1_795_000_120.0, "scope": {"street": "D1S1"}}, 1_795_000_120.0)
        # a second open alert of the same type and subject is refused by the store: the first one stands
        again = store.open_alert(conn, {"alert_id": "00000000-0000-4000-8000-000000000002", "type": "camera_offline",
                                        "subject": "cam03", "severity": "major", "since": 1.0, "opened_at": 2.0},
                                 2.0)
        assert again == "00000000-0000-4000-8000-000000000001"
    out = pingan(db_url, "list")
    assert out.returncode == 0, out.stderr
    assert "00000000" in out.stdout and "camera_offline" in out.stdout and "cam03" in out.stdout
    out = pingan(db_url, "ack", "00000000", "--by", "duty-officer-li", "--note", "crew sent")
    assert out.returncode == 0 and "acknowledged by duty-officer-li" in out.stdout, out.stderr
    assert query(db_url, "SELECT state, acknowledged_by FROM pingan.alert") == [("acknowledged", "duty-officer-li")]
    out = pingan(db_url, "resolve", "00000000", "--by", "maint-wang", "--note", "power restored")
    assert out.returncode == 0, out.stderr
    out = pingan(db_url, "show", "00000000")
    assert "acknowledge" in out.stdout and "by duty-officer-li — crew sent" in out.stdout
    assert "by maint-wang — power restored" in out.stdout and "resolved" in out.stdout
    out = pingan(db_url, "list")
    assert out.stdout.strip() == "no alerts"
    out = pingan(db_url, "silence", "area", "D1S1", "--for", "4h", "--why", "street works", "--by", "maint-wang")
    assert out.returncode == 0 and "until" in out.stdout, out.stderr
    row = query(db_url, "SELECT kind, target, who, why, extract(epoch FROM ends - starts) FROM pingan.alert_silence")
    assert row == [("area", "D1S1", "maint-wang", "street works", 4 * 3600)]
    bad = pingan(db_url, "silence", "type", "camera_offline", "--for", "soon", "--why", "x")
    assert bad.returncode == 2 and "duration 'soon' needs its unit" in bad.stderr
    bad = pingan(db_url, "silence", "type", "camera_offline", "--for", "90", "--why", "x")  # 90 what?
    assert bad.returncode == 2 and "90s, 90m, 90h or 90d" in bad.stderr
    for kind, target in (("subject", "cam99"), ("type", "camera_offlin"), ("area", "D7")):
        bad = pingan(db_url, "silence", kind, target, "--for", "1h", "--why", "x")
        assert bad.returncode == 2 and repr(target) in bad.stderr, (target, bad.stderr)
    bad = pingan(db_url, "silence", "subject", "cam03", "--for", "31d", "--why", "x")
    assert bad.returncode == 2 and "60 s to 30 days" in bad.stderr
    bad = pingan(db_url, "list", "--type", "camera_offlin")
    assert bad.returncode == 2 and "no alert type 'camera_offlin'" in bad.stderr
    # listed, and ended early
    sid = query(db_url, "SELECT silence_id::text FROM pingan.alert_silence")[0][0]
    assert sid[:8] in pingan(db_url, "silences").stdout
    out = pingan(db_url, "unsilence", sid[:8], "--by", "maint-wang")
    assert out.returncode == 0 and "ended by maint-wang" in out.stdout, out.stderr
    assert pingan(db_url, "silences").stdout.strip() == ""
    assert query(db_url, "SELECT ended_by, ends <= now() FROM pingan.alert_silence") == [("maint-wang", True)]
    again = pingan(db_url, "unsilence", sid[:8])
    assert again.returncode == 2 and "no running silence" in again.stderr
    missing = pingan(db_url, "show", "ffff")
    assert missing.returncode == 2 and "no alert 'ffff'" in missing.stderr
