"""Alert detection latency under load: from the moment a camera says it is offline to the moment
its alert arrives on MQTT at a subscribed client, beyond the rule's own hold.

One run, real parts: a Mosquitto of its own (the deployment's configuration), PostgreSQL
(PINGAN_DATABASE_URL's server, else the embedded one; a scratch database), Redis
(PINGAN_REDIS_URL, else redis://127.0.0.1:6379/14, flushed), one ingest worker and the alert
service in this process.

1. **Capacity**: patrol fixes published as fast as two processes can, for 20 s; the ingest
   worker's messages committed per second while it has a backlog (from 5 s to 17 s) is the
   capacity on this machine, in this run.
2. **Under load**: fixes at half that capacity from 400 patrol units, heartbeats from 80
   cameras every 10 s, and, for the first 60 s, one camera at a time going offline (it says so,
   with its time) every 0.75 s; the load goes on until every alert is due. A listener subscribed
   to pingan/v1/alerts/# stamps each camera_offline alert on arrival. The alert service runs with
   the shipped settings (camera_offline's hold of 120 s, a sweep every 2 s), but for grouping:
   the 80 cameras stand in one street, and camera alerts of one street are sent together every
   ``group_window_s`` (20 s) by design, which is a delivery choice, not detection; it is off. The
   latency beyond the hold is (arrival − offline time − hold).
3. **Baseline**, in the same run: the plain way — a rule that asks the database every sweep
   interval (2 s) which cameras' latest status is offline and older than the hold — stamped when
   it first finds each (no delivery hop counted for it). Printed: both p99s and their ratio.

Last line: alert_p99_seconds=<p99 of that latency> (target ≤ 1).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import drop, scratch_database  # noqa: E402

UNITS = 400
CAMERAS = 80
REDIS_URL = os.environ.get("PINGAN_REDIS_URL", "redis://127.0.0.1:6379/14")
LON, LAT = 118.78, 32.05  # the demo city


def fixes(port: int, rate: float, seconds: float, start: mp.Event, done: mp.Value, seed: int) -> None:
    """Publish fixes (now-stamped) at `rate` per second (0: as fast as possible) for `seconds`."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-load-{seed}-{os.getpid()}")
    c.max_inflight_messages_set(2000)
    c.connect("127.0.0.1", port)
    c.loop_start()
    rng = np.random.default_rng(seed)
    start.wait()
    t0 = time.time()
    n = 0
    while time.time() - t0 < seconds:
        if rate and n > rate * (time.time() - t0):
            time.sleep(0.002)
            continue
        u = int(rng.integers(UNITS))  # each unit patrols slowly around a spot of its own
        body = {"ts": time.time(), "lat": LAT + 0.00005 * u + 1e-6 * rng.random(),
                "lon": LON + 0.00005 * u + 1e-6 * rng.random(), "acc": 5, "officers": [f"b{u}"]}
        c.publish(f"pingan/v1/patrol/bu{u:03d}/gps", json.dumps(body), qos=1)
        n += 1
    c.loop_stop()
    c.disconnect()
    with done.get_lock():
        done.value += n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the loaded phase")
    args = ap.parse_args()

    import paho.mqtt.client as mqtt
    import redis

    from alerts.notify import Dispatcher, MqttNotifier, StreamNotifier
    from alerts.service import AlertService
    from alerts.settings import AlertSettings
    from alerts.types import AlertType
    from assessment.standards import Standards
    from ingest.hotstate import HotState
    from ingest.mqtt import BrokerAddress, MqttSource
    from ingest.worker import IngestWorker
    from pingan.config import Settings
    from simulators.broker import Mosquitto
    from store.records import ALERT_STREAM


    admin, db_url = scratch_database("pingan_bench_alerts")
    register(db_url)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="pingan-bench-alerts-"))
    broker = Mosquitto(workdir).start()
    worker = None
    try:
        settings = Settings.model_validate({
            "mqtt": {"url": broker.url, "client_id": "bench-ingest", "share_group": "bench-alerts"},
            "redis": {"url": REDIS_URL}})
        source = MqttSource(settings.mqtt, BrokerAddress.parse(broker.url), settings.ingest.max_pending_messages)
        worker = IngestWorker(settings, source, lambda: psycopg.connect(db_url), HotState(client))
        threading.Thread(target=worker.run, daemon=True).start()
        assert worker.ready.wait(60) and source.wait_connected(60), "worker did not start"
        capacity = measure_capacity(broker.port, worker)
        print(f"ingest capacity in this run: {capacity:,.0f} msg/s (two publishers, as fast as they go, 20 s)")
        s = AlertSettings(group_window_s=0)  # the shipped settings, one street's alerts not held for grouping
        hold = s.hold_for(AlertType.CAMERA_OFFLINE)
        print(f"shipped settings: camera_offline hold {hold:.0f} s, sweep every {s.sweep_every_s:.1f} s")
        notifiers = [StreamNotifier(client, ALERT_STREAM), MqttNotifier("127.0.0.1", broker.port, client_id="bench-al")]
        service = AlertService(s, Standards(), lambda: psycopg.connect(db_url), client, Dispatcher(notifiers, 0),
                               consumer="bench").start()
        assert service.ready.wait(120), "alert service did not start"
        arrivals: dict[str, float] = {}
        listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-listener")
        listener.on_message = lambda c, u, m: arrivals.setdefault(m.topic.rsplit("/", 1)[1], time.time())
        listener.connect("127.0.0.1", broker.port)
        listener.subscribe("pingan/v1/alerts/camera_offline/#", qos=1)
        listener.loop_start()
        polled: dict[str, float] = {}
        stop_polling = threading.Event()
        poller = threading.Thread(target=poll_baseline, args=(db_url, hold, s.sweep_every_s, polled, stop_polling),
                                  daemon=True)
        poller.start()
        offline = loaded(broker.port, capacity / 2, args.seconds, hold + 5.0)
        time.sleep(2.0)
        stop_polling.set()
        poller.join(10)
        lat = np.array([arrivals[c] - t - hold for c, t in offline.items() if c in arrivals])
        base = np.array([polled[c] - t - hold for c, t in offline.items() if c in polled])
        missing = sorted(set(offline) - set(arrivals))
        print(f"under load ({capacity / 2:,.0f} msg/s of fixes, {CAMERAS} cameras): {len(lat)} of {len(offline)} "
              f"camera_offline alerts arrived" + (f"; missing: {missing[:5]}" if missing else ""))
        print(f"latency beyond the {hold:.0f} s hold: p50 {np.percentile(lat, 50):.3f} s, "
              f"p99 {np.percentile(lat, 99):.3f} s, max {lat.max():.3f} s")
        print(f"baseline, a rule polling the database every {s.sweep_every_s:.0f} s (no delivery hop), "
              f"{len(base)} found: p50 {np.percentile(base, 50):.3f} s, p99 {np.percentile(base, 99):.3f} s; "
              f"p99 ratio service / baseline {np.percentile(lat, 99) / np.percentile(base, 99):.2f}")
        print(f"alert service: {service.stats.entries} feed entries, {service.stats.records} records, "
              f"{service.stats.opened} alerts opened")
        listener.loop_stop()
        service.stop()
        service.dispatcher.close()
    finally:  # whatever happened: the broker, worker, Redis db and scratch database this run made go
        if worker is not None:
            worker.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        client.flushdb()
        drop(admin, "pingan_bench_alerts")
    print(f"alert_p99_seconds={np.percentile(lat, 99):.3f}")


def register(db_url: str) -> None:
    """The demo city's grid and sites, with the run's 400 units and 80 cameras."""
    from geofence.sites import Camera, CameraCategory
    from pingan.config import Settings
    from pingan.services import load_registry
    from store.migrate import migrate
    from store.registry import UnitRow, sync

    registry, problems = load_registry(Settings())
    assert not problems, problems
    cams = [Camera(f"bc{k:03d}", f"bench camera {k}", CameraCategory.MAIN_STREET, 25.0, LON + 0.0001 * k, LAT)
            for k in range(CAMERAS)]
    units = [UnitRow(f"bu{k:03d}", "car") for k in range(UNITS)]
    with psycopg.connect(db_url) as conn:
        migrate(conn)
        conn.autocommit = False
        sync(conn, registry.grid, registry.cameras + cams, registry.checkpoints, units, "bench")
        conn.commit()


def measure_capacity(port: int, worker) -> float:
    start, done = mp.Event(), mp.Value("l", 0)
    procs = [mp.Process(target=fixes, args=(port, 0, 20.0, start, done, k)) for k in range(2)]
    for p in procs:
        p.start()
    start.set()
    time.sleep(5.0)  # a backlog has built up: from here on the worker runs flat out
    n0, t0 = worker.stats.messages, time.time()
    time.sleep(12.0)
    rate = (worker.stats.messages - n0) / (time.time() - t0)
    for p in procs:
        p.join()
    time.sleep(5.0)
    return rate


def poll_baseline(db_url: str, hold: float, every: float, found: dict[str, float], stop: threading.Event) -> None:
    """The plain way to raise camera_offline: every `every` seconds, ask the database which
    cameras' latest status is offline and older than the hold; stamp each when first found."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        while not stop.wait(every):
            rows = conn.execute(
                "SELECT device_id FROM (SELECT DISTINCT ON (device_id) device_id, online, ts FROM pingan.device_status"
                " WHERE kind = 'camera' ORDER BY device_id, ts DESC) latest"
                " WHERE NOT online AND ts <= now() - make_interval(secs => %s)", (hold,)).fetchall()
            now = time.time()
            for (device,) in rows:
                found.setdefault(device, now)


def loaded(port: int, rate: float, seconds: float, after: float) -> dict[str, float]:
    """Background fixes at `rate` and cameras going offline one by one for `seconds`, the load
    going on for `after` more seconds (event time moves with the feed); camera → offline time."""
    import paho.mqtt.client as mqtt

    start, done = mp.Event(), mp.Value("l", 0)
    procs = [mp.Process(target=fixes, args=(port, rate / 2, seconds + after, start, done, 10 + k)) for k in range(2)]
    for p in procs:
        p.start()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-cameras")
    c.connect("127.0.0.1", port)
    c.loop_start()
    start.set()
    t0 = time.time()
    offline: dict[str, float] = {}
    next_beat = 0.0
    k = 0
    while time.time() - t0 < seconds + after:
        now = time.time()
        if now >= next_beat:
            next_beat = now + 10
            for cam in range(CAMERAS):
                if f"bc{cam:03d}" not in offline:
                    c.publish(f"pingan/v1/camera/bc{cam:03d}/health", json.dumps(
                        {"ts": now, "online": True, "fps": 25.0, "recording": True, "storage_ok": True}), qos=1)
        if now - t0 > 15 and k < CAMERAS and now - t0 > 15 + 0.75 * k and now - t0 < seconds:  # one every 0.75 s
            cam = f"bc{k:03d}"
            offline[cam] = time.time()
            c.publish(f"pingan/v1/camera/{cam}/status", json.dumps({"status": "offline", "ts": offline[cam]}), qos=1)
            k += 1
        time.sleep(0.01)
    for p in procs:
        p.join()
    c.loop_stop()
    c.disconnect()
    return offline


if __name__ == "__main__":
    main()
