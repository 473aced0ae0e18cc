"""Losing nothing: duplicates and shuffled order, a worker killed mid-burst, the database
stopped mid-stream, Redis stopped — each against real services."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from ingest.hotstate import latest_position

from ..conftest import REDIS_URL, Publisher, RunningWorker, make_settings, prepare_database, query, wait_for
from ..services import PrivatePostgres, PrivateRedis

UNITS = [f"u0{i}" for i in range(1, 9)]
BASE_LAT, BASE_LON = 32.03, 118.75


def track(n: int, start: float, units=UNITS, step_s: float = 1.0) -> list[tuple[str, dict]]:
    """n fixes round-robin over the units; each unit creeps north 1 m per step (plausible speed)."""
    out = []
    for i in range(n):
        unit = units[i % len(units)]
        j = i // len(units)
        out.append((unit, {"ts": round(start + j * step_s, 3), "lat": BASE_LAT + j * 1e-5 + units.index(unit) * 1e-3,
                           "lon": BASE_LON, "acc": 5, "seq": i}))
    return out


def test_duplicates_and_shuffled_order(start_worker, publisher, db_url, redis_client):
    start_worker()
    fixes = track(2000, time.time() - 3600)
    rnd = random.Random(42)
    dups = rnd.sample(fixes, 300)
    stream = fixes + dups
    rnd.shuffle(stream)
    for unit, fix in stream:
        publisher.publish(f"pingan/v1/patrol/{unit}/gps", fix)
    publisher.flush()
    wait_for(lambda: query(db_url, "SELECT (SELECT count(*) FROM pingan.patrol_ping) + "
                                   "(SELECT count(*) FROM pingan.dead_letter)")[0][0] == len(stream),
             what="every message accounted for")
    assert query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0] == 2000
    assert query(db_url, "SELECT reason, count(*) FROM pingan.dead_letter GROUP BY reason") == [("duplicate", 300)]
    for unit in UNITS:
        newest = max(f["ts"] for u, f in fixes if u == unit)
        latest = latest_position(redis_client, unit)
        assert float(latest["ts"]) == pytest.approx(newest), unit  # an older fix never became latest


def _spawn_worker(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pingan.cli", "ingest", "--status-every", "2"],
                            env=env, stdout=log, stderr=log)


@pytest.mark.slow
def test_kill_9_during_burst_loses_and_duplicates_nothing(broker, db_url, tmp_path):
    n = 20_000
    env = {**os.environ, "PINGAN_MQTT_URL": broker.url, "PINGAN_DATABASE_URL": db_url,
           "PINGAN_REDIS_URL": REDIS_URL, "PINGAN_MQTT__CLIENT_ID": f"kill9-{os.getpid()}",
           "PINGAN_MQTT__SHARE_GROUP": f"kill9-{os.getpid()}", "PINGAN_INGEST__AUTO_REGISTER": "false",
           "PINGAN_INGEST__BATCH_MAX_ROWS": "500"}
    env.pop("PINGAN_CONFIG", None)
    log = open(tmp_path / "worker.log", "ab")
    stored = lambda: query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0]  # noqa: E731
    worker = _spawn_worker(env, log)
    try:
        # the session and its subscription exist once the worker has connected
        def connected() -> bool:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            return b"connected to" in (tmp_path / "worker.log").read_bytes()

        wait_for(connected, 60, what="worker connected")
        time.sleep(0.5)
        pub = Publisher(broker.url, f"kill9-pub-{os.getpid()}")
        fixes = track(n, time.time() - 6 * 3600)
        sender = threading.Thread(target=lambda: [pub.publish(f"pingan/v1/patrol/{u}/gps", f) for u, f in fixes])
        sender.start()
        wait_for(lambda: stored() >= 3000, 60, 0.02, what="part of the burst committed")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        at_kill = stored()
        sender.join(120)
        pub.close()  # every message is now with the broker
        assert at_kill < n, "the worker finished before it was killed: nothing was tested"
        worker = _spawn_worker(env, log)
        wait_for(lambda: stored() == n, 180, 0.5, what=f"all {n} rows after the restart")
        time.sleep(1.0)
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    rows, distinct, seqs = query(db_url, "SELECT count(*), count(DISTINCT (unit_id, ts)), count(DISTINCT seq) "
                                         "FROM pingan.patrol_ping")[0]
    assert (rows, distinct, seqs) == (n, n, n)
    assert query(db_url, "SELECT count(*) FROM pingan.dead_letter")[0][0] == 0
    # the restarted worker resumed its session, which the broker kept: its second run starts where
    # the first one's last heartbeat ended, so the time it was dead is not an ingest outage
    runs = query(db_url, "SELECT since, until, bridged FROM pingan.ingest_uptime WHERE source = 'worker' ORDER BY since")
    assert len(runs) == 2 and runs[1][2] and runs[1][0] == runs[0][1]


@pytest.mark.slow
def test_database_stopped_for_20_s_mid_stream(broker, redis_client):
    pg = PrivatePostgres().init().start()
    try:
        prepare_database(pg.url)
        settings = make_settings(broker.url, pg.url, receive_maximum=500, batch_max_rows=500,
                                 max_pending_messages=1500)
        w = RunningWorker(settings, redis_client).start()
        pub = Publisher(broker.url, f"dbdown-pub-{os.getpid()}")
        fixes = track(12_000, time.time() - 6 * 3600)
        stop_sending = threading.Event()
        peak = [0]

        def send() -> None:
            for k, (u, f) in enumerate(fixes):
                pub.publish(f"pingan/v1/patrol/{u}/gps", f)
                if k % 100 == 0:
                    pub.flush()
                    time.sleep(0.05)  # ~2,000 msg/s for ~6 s, then the rest while the database is down

        def watch() -> None:
            while not stop_sending.is_set():
                peak[0] = max(peak[0], w.source.inbox.qsize())
                time.sleep(0.01)

        sender = threading.Thread(target=send)
        watcher = threading.Thread(target=watch)
        sender.start()
        watcher.start()
        count = lambda: query(pg.url, "SELECT count(*) FROM pingan.patrol_ping")[0][0]  # noqa: E731
        wait_for(lambda: count() >= 1000, 30, 0.02, what="stream under way")
        pg.stop()
        down_at = time.monotonic()
        time.sleep(20)
        pg.start()
        outage = time.monotonic() - down_at
        sender.join(120)
        pub.close()
        wait_for(lambda: count() == len(fixes), 120, 0.5, what="every fix after the database came back")
        stop_sending.set()
        watcher.join()
        w.stop()
        assert outage >= 20
        # memory stayed bounded while the database was down (the inbox limit; Receive Maximum
        # alone is not enough: Mosquitto 2.0.x overshoots it under load)
        assert 0 < peak[0] <= settings.ingest.max_pending_messages
        assert query(pg.url, "SELECT count(*), count(DISTINCT seq) FROM pingan.patrol_ping")[0] == (12_000, 12_000)
        assert query(pg.url, "SELECT count(*) FROM pingan.dead_letter")[0][0] == 0
    finally:
        pg.destroy()


@pytest.mark.slow
def test_redis_stopped_ingest_continues_and_hot_state_is_rebuilt(broker, db_url, tmp_path):
    r = PrivateRedis(tmp_path).start()
    client = redis.Redis.from_url(r.url, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        w = RunningWorker(make_settings(broker.url, db_url, r.url), client).start()
        pub = Publisher(broker.url, f"redis-pub-{os.getpid()}")
        fixes = track(800, time.time() - 3600)
        for u, f in fixes[:400]:
            pub.publish(f"pingan/v1/patrol/{u}/gps", f)
        pub.flush()
        count = lambda: query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0]  # noqa: E731
        wait_for(lambda: count() == 400, what="first half stored")
        assert latest_position(client, "u01") is not None
        r.stop()
        for u, f in fixes[400:]:
            pub.publish(f"pingan/v1/patrol/{u}/gps", f)
        pub.flush()
        wait_for(lambda: count() == 800, what="second half stored with Redis down")
        assert not w.worker.hot.available
        r.start()  # a new, empty Redis on the same port
        for unit in UNITS:
            newest = max(f["ts"] for u, f in fixes if u == unit)
            got = wait_for(lambda unit=unit: latest_position(client, unit), 20, what=f"{unit} rebuilt")
            assert float(got["ts"]) == pytest.approx(newest)
        assert client.geopos("pingan:unit:geo", "u01")[0] is not None
        pub.close()
        w.stop()
    finally:
        r.stop()


@pytest.mark.slow
def test_broker_restart_mid_stream_reconnects_and_loses_nothing(db_url, redis_client, tmp_path):
    from ..services import Mosquitto

    broker = Mosquitto(tmp_path / "broker").start()
    try:
        w = RunningWorker(make_settings(broker.url, db_url), redis_client).start()
        pub = Publisher(broker.url, f"restart-pub-{os.getpid()}")
        fixes = track(3000, time.time() - 3600)
        for u, f in fixes[:1500]:
            pub.publish(f"pingan/v1/patrol/{u}/gps", f)
        pub.flush()
        broker.stop()  # persists the sessions and their queues
        time.sleep(1.0)
        assert not w.source.connected.is_set()
        broker.start()
        wait_for(w.source.connected.is_set, 30, what="worker reconnected")
        wait_for(pub.client.is_connected, 30, what="publisher reconnected")
        for u, f in fixes[1500:]:
            pub.publish(f"pingan/v1/patrol/{u}/gps", f)
        pub.close()
        count = lambda: query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0]  # noqa: E731
        wait_for(lambda: count() == 3000, 60, 0.2, what="every fix after the broker restart")
        time.sleep(0.5)
        w.stop()
        assert query(db_url, "SELECT count(*), count(DISTINCT seq) FROM pingan.patrol_ping")[0] == (3000, 3000)
        # redelivered messages are not device duplicates: nothing was dead-lettered for them
        assert query(db_url, "SELECT count(*) FROM pingan.dead_letter")[0][0] == 0
    finally:
        broker.stop()


def test_redis_emptied_without_a_failed_write_is_noticed_and_rebuilt(start_worker, publisher, db_url, redis_client):
    """Redis restarted without persistence (or flushed) fails no write: the worker must still
    notice, and bring back the idle units' positions and the counters from the database."""
    start_worker()
    fixes = track(400, time.time() - 3600)
    for u, f in fixes:
        publisher.publish(f"pingan/v1/patrol/{u}/gps", f)
    publisher.publish("pingan/v1/patrol/u01/gps", b"{broken")
    publisher.flush()
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0] == 400, what="stored")
    counters = wait_for(lambda: redis_client.hgetall("pingan:counters").get(b"rejected:malformed"), what="counted")
    before = redis_client.hgetall("pingan:counters")
    assert int(before[b"received"]) == 401 and int(before[b"stored:patrol_ping"]) == 400 and counters == b"1"
    redis_client.flushdb()  # everything gone; the units are idle from now on
    for unit in UNITS:
        newest = max(f["ts"] for u, f in fixes if u == unit)
        got = wait_for(lambda unit=unit: latest_position(redis_client, unit), 20, what=f"{unit} rebuilt")
        assert float(got["ts"]) == pytest.approx(newest)
    assert wait_for(lambda: redis_client.hgetall("pingan:counters"), what="counters back") == before


def _restart_mid_burst(db_url: str, redis_client, tmp_path, group: str) -> tuple[int, int, int, int]:
    """500 fixes a second for 12 s from a publisher that follows the contract (u01) and one that
    does not retry (u02); the broker is stopped (SIGTERM, its persistence written) 4 s in and
    started again 3.5 s later. Returns (u01 stored, u02 stored, duplicates, u02's 0x10 answers)."""
    import json
    import signal

    from simulators.broker import Mosquitto
    from simulators.publish import Broker, _client, _Window

    broker = Mosquitto(tmp_path / f"broker-{group or 'plain'}").start()
    settings = make_settings(broker.url, db_url, group=group or "unused")
    if not group:
        settings = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"share_group": ""})})
    w = RunningWorker(settings, redis_client).start()
    b = Broker("127.0.0.1", broker.port)
    retrying, plain = _client(b, f"pub-retry-{group}"), _client(b, f"pub-noretry-{group}")
    good, bad = _Window(retrying), _Window(plain, retry=False)
    n, rate, t0 = 6000, 500.0, time.time()

    def restart() -> None:
        time.sleep(4.0)
        broker.proc.send_signal(signal.SIGTERM)
        broker.proc.wait(10)
        time.sleep(3.5)
        broker.start()

    killer = threading.Thread(target=restart)
    killer.start()
    try:
        for i in range(n):
            ahead = i / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)
            fix = json.dumps({"ts": t0 - 3600 + i * 0.5, "lat": 32.03 + i * 1e-6, "lon": 118.75, "seq": i}).encode()
            good.publish("pingan/v1/patrol/u01/gps", fix)
            bad.publish("pingan/v1/patrol/u02/gps", fix)
        killer.join()
        good.drain()
        bad.drain()
        stored = lambda: dict(query(db_url, "SELECT unit_id, count(*) FROM pingan.patrol_ping "  # noqa: E731
                                            "WHERE unit_id IN ('u01', 'u02') GROUP BY unit_id"))
        wait_for(lambda: stored().get("u01") == n, 60, 0.5, what="every fix of the retrying publisher")
        time.sleep(1.0)
        w.stop()
        got = stored()
        dup = query(db_url, "SELECT count(*) - count(DISTINCT (unit_id, seq)) FROM pingan.patrol_ping")[0][0]
        return got.get("u01", 0), got.get("u02", 0), dup, bad.undelivered
    finally:
        for c in (retrying, plain):
            c.disconnect()
            c.loop_stop()
        broker.stop()


@pytest.mark.slow
def test_broker_restart_mid_burst_counted_message_by_message(db_url, redis_client, tmp_path):
    # a shared group (the broker restores the session but not the $share subscription, and answers
    # 0x10 until the worker is back): the contract publisher loses nothing; one that does not
    # retry loses at most about a second of its traffic, the worker reconnecting within a second
    u01, u02, dup, nobody = _restart_mid_burst(db_url, redis_client, tmp_path, group=f"restart-{os.getpid()}")
    assert (u01, dup) == (6000, 0)
    assert u02 == 6000 - nobody and nobody <= 600, (u02, nobody)


@pytest.mark.slow
def test_broker_restart_with_a_plain_subscription_loses_nothing(db_url, redis_client, tmp_path):
    # one worker on a plain subscription (mqtt.share_group = ""): the broker keeps its messages
    assert _restart_mid_burst(db_url, redis_client, tmp_path, group="") == (6000, 6000, 0, 0)


def _outage_at_full_load(broker, redis_client, outage_s: float, protocol: str, max_pending: int):
    """About 2,000 fixes a second throughout, the database stopped for `outage_s`: (connections
    the worker made, the most messages it held at once, fixes sent, fixes stored)."""
    import json

    from simulators.publish import Broker, _client, _Window

    pg = PrivatePostgres().init().start()
    try:
        prepare_database(pg.url)
        settings = make_settings(broker.url, pg.url, receive_maximum=500, batch_max_rows=500,
                                 max_pending_messages=max_pending)
        settings = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"protocol": protocol})})
        w = RunningWorker(settings, redis_client).start()
        client = _client(Broker("127.0.0.1", broker.port), f"flood-{protocol}-{os.getpid()}")
        window = _Window(client, 2000)
        stop = threading.Event()
        sent, peak, connections = [0], [0], set()

        def send() -> None:
            t0 = time.time()
            while not stop.is_set():
                i = sent[0]
                ahead = i / 2000 - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
                window.publish(f"pingan/v1/patrol/{UNITS[i % 8]}/gps", json.dumps(
                    {"ts": t0 - 7200 + i * 0.01, "lat": BASE_LAT + (i % 8) * 1e-3, "lon": BASE_LON, "seq": i}).encode())
                sent[0] = i + 1

        def watch() -> None:
            while not stop.is_set():
                # what the worker holds: its inbox and its batch. Read in one piece only: a batch
                # taken from the inbox, or released and refilled, between the two reads would be
                # counted twice, so a sample in which the batch changed is read again
                held = w.worker.held
                queued = w.source.inbox.qsize()
                if w.worker.held == held:
                    peak[0] = max(peak[0], queued + held)
                connections.add(w.source.generation)
                time.sleep(0.01)

        threads = [threading.Thread(target=send), threading.Thread(target=watch)]
        for t in threads:
            t.start()
        time.sleep(5)
        pg.stop()
        time.sleep(outage_s)
        pg.start()
        time.sleep(5)
        stop.set()
        for t in threads:
            t.join()
        window.drain(120)
        count = lambda: query(pg.url, "SELECT count(DISTINCT seq) FROM pingan.patrol_ping")[0][0]  # noqa: E731
        wait_for(lambda: count() == sent[0], 300, 1.0, what="every fix after the outage")
        connections.add(w.source.generation)
        w.stop()
        client.disconnect()
        client.loop_stop()
        return len(connections), peak[0], sent[0], count()
    finally:
        pg.destroy()


@pytest.mark.slow
def test_database_down_3_minutes_at_full_load_keeps_the_connection(broker, redis_client):
    # MQTT v5: the broker keeps to the Receive Maximum (500), the worker never reaches its bound
    # (1,500), its keepalive goes on: one connection throughout, memory within the bound, all stored
    connections, peak, sent, stored = _outage_at_full_load(broker, redis_client, 180, "5", 1500)
    assert connections == 1 and 0 < peak <= 1500 and stored == sent > 300_000


@pytest.mark.slow
def test_database_down_past_the_keepalive_where_the_bound_is_reached(broker, redis_client):
    # MQTT 3.1.1 has no Receive Maximum: the broker sends up to its own window (1,000 here), the
    # worker stops reading at its bound (500), and after 1.5 × keepalive the broker drops it. It
    # reconnects; what it held from before still counts towards the bound; nothing is lost.
    connections, peak, sent, stored = _outage_at_full_load(broker, redis_client, 60, "3.1.1", 500)
    assert connections == 2 and 0 < peak <= 500 and stored == sent > 100_000
