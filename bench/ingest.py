"""Ingest throughput against a raw paho drain of the same broker and messages, in one run.

1. Starts a Mosquitto with deploy/mosquitto/mosquitto.conf, creates two persistent sessions
   (a raw paho consumer, and an ingest worker's shared subscription) and fills both with the
   same N mixed messages (GPS fixes, buffered GPS batches, camera health, check-ins).
2. (a) drains the raw session with a no-op handler (paho, MQTT v5, auto ack);
   (b) one ingest worker drains its session end to end: decode, filter, tag cell, COPY,
       commit, Redis hot state, ack — until every row is committed.
Both are timed the same way: from the first message received to the last one handled (acked
by the raw drain; committed, then acked, by the worker); connecting and start-up are outside
both. Each phase runs in a fresh process so its peak RSS is its own.

Usage: python bench/ingest.py [--messages N]     needs PostgreSQL and Redis (the test ones by
default; TEST_PINGAN_DATABASE_URL / TEST_PINGAN_REDIS_URL), and the mosquitto binary.
Last line: ingest_ratio=<worker msg/s ÷ raw msg/s>.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from simulators.broker import Mosquitto  # noqa: E402

DB_ADMIN = os.environ.get("TEST_PINGAN_DATABASE_URL", "postgresql://pingan@127.0.0.1:5432/pingan")
REDIS_URL = os.environ.get("TEST_PINGAN_REDIS_URL", "redis://127.0.0.1:6379/9")
RECEIVE_MAXIMUM = 4000
RAW_ID, WORKER_ID, GROUP = "bench-raw", "bench-worker", "bench"
TOPICS = ["pingan/v1/patrol/+/gps", "pingan/v1/camera/+/health", "pingan/v1/checkpoint/+/checkin"]


def connect_props() -> Properties:
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 3600
    p.ReceiveMaximum = RECEIVE_MAXIMUM
    return p


def client(client_id: str, manual_ack: bool = False) -> mqtt.Client:
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                       manual_ack=manual_ack)


def messages(n: int, seed: int = 1) -> tuple[list[tuple[str, bytes]], int]:
    """n mixed messages and the number of rows they make."""
    rnd = random.Random(seed)
    units = [f"u0{i}" for i in range(1, 9)]
    cams = [f"cam{i:02d}" for i in range(1, 13)]
    t0 = time.time() - 6 * 3600
    clock = {u: t0 for u in units}
    pos = {u: (32.021 + 0.007 * i, 118.741 + 0.009 * i) for i, u in enumerate(units)}
    step = {u: 2e-5 for u in units}  # ~2 m north per second, turning back at the city's edge
    out, rows = [], 0
    for k in range(n):
        r = rnd.random()
        if r < 0.80 or r >= 0.85 and r < 0.90:
            u = units[k % len(units)]
            batch = []
            for _ in range(1 if r < 0.80 else 5):
                clock[u] += 1.0
                lat, lon = pos[u]
                if not 32.021 < lat + step[u] < 32.079:
                    step[u] = -step[u]
                pos[u] = (lat + step[u], lon)
                batch.append({"ts": round(clock[u], 3), "lat": round(pos[u][0], 6), "lon": lon, "acc": 6.5,
                              "spd": 2.0, "hdg": 0, "batt": 81, "officers": [f"{u}-a", f"{u}-b"], "seq": k})
            out.append((f"pingan/v1/patrol/{u}/gps", json.dumps(batch[0] if len(batch) == 1 else batch).encode()))
            rows += len(batch)
        elif r < 0.85:
            c = cams[k % len(cams)]
            out.append((f"pingan/v1/camera/{c}/health", json.dumps(
                {"ts": t0 + k * 0.01, "online": True, "fps": 25, "bitrate_kbps": 2048, "recording": True,
                 "storage_ok": True, "packet_loss": 0.001, "temp_c": 40.5, "uptime_s": 1000 + k}).encode()))
            rows += 1
        else:
            out.append(("pingan/v1/checkpoint/cp-west/checkin", json.dumps(
                {"ts": t0 + k * 0.01, "officer": f"p{k}", "action": "on", "method": "nfc"}).encode()))
            rows += 1
    return out, rows


def create_sessions(url_port: int) -> None:
    for cid, topics in ((RAW_ID, TOPICS), (WORKER_ID, [f"$share/{GROUP}/{t}" for t in TOPICS])):
        c = client(cid, manual_ack=True)
        done = threading.Event()
        c.on_subscribe = lambda *a, done=done: done.set()
        c.connect("127.0.0.1", url_port, clean_start=True, properties=connect_props())
        c.loop_start()
        c.subscribe([(t, 1) for t in topics])
        assert done.wait(10), "subscribe not acknowledged"
        c.disconnect()
        c.loop_stop()


def fill(port: int, msgs: list[tuple[str, bytes]]) -> float:
    # imported here: the phases' processes (and the worker's network process) stay lean
    from simulators.publish import Broker, publish
    from simulators.scenario import Outgoing

    report = publish([Outgoing(0.0, t, p) for t, p in msgs], Broker("127.0.0.1", port), None,
                     client_id="bench-publisher", progress=False)
    return report.seconds


# -- phases, each in its own process ---------------------------------------------------------------
def phase_raw(port: int, n: int) -> dict:
    got = [0]
    done = threading.Event()
    first = [0.0]

    last = [0.0]

    def on_message(c, u, m) -> None:
        if not got[0]:
            first[0] = time.time()
        got[0] += 1
        if got[0] >= n:
            last[0] = time.time()
            done.set()

    c = client(RAW_ID)
    c.on_message = on_message
    c.connect("127.0.0.1", port, clean_start=False, properties=connect_props())
    c.loop_start()
    assert done.wait(600), f"raw drain got {got[0]} of {n}"
    elapsed = last[0] - first[0]  # from the first message to the last, as for the worker
    c.disconnect()
    c.loop_stop()
    return {"seconds": elapsed, "rate": n / elapsed, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def phase_worker(port: int, n: int, rows: int, db_url: str) -> dict:
    from ingest.hotstate import HotState
    from ingest.mqtt import BrokerAddress, MqttSource
    from ingest.worker import IngestWorker
    from pingan.config import Settings
    from pingan.services import redis_client

    settings = Settings.model_validate({
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": WORKER_ID, "share_group": GROUP,
                 "receive_maximum": RECEIVE_MAXIMUM},
        "database": {"url": db_url}, "redis": {"url": REDIS_URL},
        "ingest": {"auto_register": False}})
    source = MqttSource(settings.mqtt, BrokerAddress.parse(settings.mqtt.url), settings.ingest.max_pending_messages)
    worker = IngestWorker(settings, source, lambda: psycopg.connect(db_url), HotState(redis_client(REDIS_URL)))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    assert worker.ready.wait(60) and source.wait_connected(60), "worker did not start"
    # the worker counts rows only after their commit; polling its counters keeps the database
    # and the interpreter free of the measurement's own load
    deadline = time.monotonic() + 600
    while sum(worker.stats.stored[t] for t in ("patrol_ping", "camera_health", "checkin")) < rows:
        assert time.monotonic() < deadline and thread.is_alive(), "worker did not commit every row"
        time.sleep(0.005)
    # from the first message received (the network process stamps it) to the last commit
    elapsed = time.time() - worker.stats.first_received
    with psycopg.connect(db_url, autocommit=True) as conn:
        committed = conn.execute("SELECT (SELECT count(*) FROM pingan.patrol_ping) + (SELECT count(*) FROM "
                                 "pingan.camera_health) + (SELECT count(*) FROM pingan.checkin)").fetchone()[0]
        dead = conn.execute("SELECT count(*) FROM pingan.dead_letter").fetchone()[0]
    assert committed == rows, f"{committed} rows in the database, expected {rows}"
    worker.stop()
    thread.join(60)
    return {"seconds": elapsed, "rate": n / elapsed, "rows": rows, "dead_letters": dead,
            "batches": worker.stats.batches, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "net_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def prepare_database(url: str) -> None:
    """Migrate and load the demo city (its units, cameras and checkpoints are the messages')."""
    from pingan.config import Settings
    from pingan.services import load_registry
    from store.migrate import migrate
    from store.registry import sync

    registry, problems = load_registry(Settings())
    assert not problems, problems
    with psycopg.connect(url) as conn:
        migrate(conn)
        conn.autocommit = False
        sync(conn, registry.grid, registry.cameras, registry.checkpoints, registry.units, "bench")
        conn.commit()


def run_phase(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"phase {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--phase", choices=["raw", "worker"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase == "raw":
        print(json.dumps(phase_raw(a.port, a.messages)))
        return
    if a.phase == "worker":
        print(json.dumps(phase_worker(a.port, a.messages, a.rows, a.db)))
        return

    name = f"pingan_bench_{os.getpid()}"
    base = DB_ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(DB_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"{base}/{name}"
    work = Path(tempfile.mkdtemp(prefix="pingan-bench-"))
    broker = Mosquitto(work).start()
    try:
        prepare_database(db_url)
        msgs, rows = messages(a.messages)
        print(f"{a.messages} mixed messages ({rows} rows): 80% GPS fixes, 5% buffered GPS batches of 5, "
              f"10% camera health, 5% check-ins; Receive Maximum {RECEIVE_MAXIMUM}")
        create_sessions(broker.port)
        fill_s = fill(broker.port, msgs)
        print(f"filled both persistent sessions in {fill_s:.1f} s")
        raw = run_phase("--phase", "raw", "--port", str(broker.port), "--messages", str(a.messages))
        print(f"(a) raw paho drain, no-op handler: {raw['rate']:,.0f} msg/s ({raw['seconds']:.2f} s), "
              f"peak RSS {raw['rss_mb']:.0f} MB")
        wk = run_phase("--phase", "worker", "--port", str(broker.port), "--messages", str(a.messages),
                       "--rows", str(rows), "--db", db_url)
        print(f"(b) ingest worker to committed rows: {wk['rate']:,.0f} msg/s ({wk['seconds']:.2f} s, "
              f"{wk['rows']} rows in {wk['batches']} batches, {wk['dead_letters']} dead letters), "
              f"peak RSS {wk['rss_mb']:.0f} MB (+ {wk['net_rss_mb']:.0f} MB network process)")
        print(f"ingest_ratio={wk['rate'] / raw['rate']:.3f}")
    finally:
        broker.stop()
        with psycopg.connect(DB_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
