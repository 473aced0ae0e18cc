"""A kill -9 of the alert service in the middle of a scenario, restarted: the same alerts as the
scenario's ground truth demands (precision and recall 1.0), none lost, none twice. The alert
service runs as its own process (`pingan alerts`) beside an ingest worker, on the real
Mosquitto, PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import psycopg
import pytest

from simulators.publish import Broker, publish
from simulators.scenario import Scenario, run
from simulators.truth import score_alerts
from store import alerts as alert_store
from store.records import FEED_STREAM
from store.registry import UnitRow, sync

from ..conftest import REDIS_URL, RunningWorker, make_settings, query, wait_for


def alert_service(broker_url: str, db_url: str, start: float, end: float, log) -> subprocess.Popen:
    # the replay runs 120 times faster than life: late data are allowed as many seconds of event
    # time as two of wall clock (what `pingan run --simulate` sets by itself)
    env = {**os.environ, "PINGAN_DATABASE_URL": db_url, "PINGAN_REDIS_URL": REDIS_URL, "PINGAN_MQTT_URL": broker_url,
           "PINGAN_ALERTS__LATENESS_S": "240"}
    return subprocess.Popen([sys.executable, "-m", "pingan.cli", "alerts", "--period", str(start), str(end),
                             "--consumer", "alerts-k9"], env=env, stdout=log, stderr=log)


@pytest.mark.slow
def test_a_killed_alert_service_restarted_raises_the_same_alerts(broker, db_url, redis_client, tmp_path):
    sim = run(Scenario.load("small").model_copy(update={
        "start": datetime.fromtimestamp((int(time.time()) // 60) * 60 - 3600, timezone.utc)}))
    start = sim.scenario.start.timestamp()
    end = start + sim.scenario.duration_s
    with psycopg.connect(db_url) as conn:
        sync(conn, sim.city.grid, sim.city.cameras, sim.city.checkpoints,
             [UnitRow(u.id, u.kind, u.team) for u in sim.city.units], effective=time.time() - 7200)
    # the scenario is history replayed: its period is declared received before it is published, as
    # `pingan run --simulate` does (else the live rules rightly call all of it unknown)
    env = {**os.environ, "PINGAN_DATABASE_URL": db_url, "PINGAN_REDIS_URL": REDIS_URL}
    declared = subprocess.run([sys.executable, "-m", "pingan.cli", "import", "--from", sim.scenario.start.isoformat(),
                               "--to", datetime.fromtimestamp(end, timezone.utc).isoformat(),
                               "--name", "small", "--allow-empty"], env=env, capture_output=True, text=True, timeout=60)
    assert declared.returncode == 0 and "received:" in declared.stdout, declared.stderr
    worker = RunningWorker(make_settings(broker.url, db_url), redis_client).start()
    log = open(tmp_path / "alerts.log", "ab")
    service = alert_service(broker.url, db_url, start, end, log)
    wait_for(lambda: redis_client.exists(FEED_STREAM) and redis_client.xinfo_groups(FEED_STREAM), 60, 0.2,
             what="the alert service's consumer group")
    published = threading.Thread(target=publish, args=(sim.messages, Broker("127.0.0.1", broker.port),
                                                      sim.scenario.acceleration),
                                 kwargs={"client_id": f"sim-k9-{os.getpid()}", "progress": False})
    published.start()
    time.sleep(12)  # about 24 simulated minutes in: kill it without warning
    opened_before = query(db_url, "SELECT count(*) FROM pingan.alert")[0][0]
    service.send_signal(signal.SIGKILL)
    service.wait(10)
    time.sleep(2)
    service = alert_service(broker.url, db_url, start, end, log)
    published.join(120)
    expected = sum(sim.truth["rejects"].values())
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pingan.dead_letter")[0][0] >= expected, 120, 0.5,
             what="the ingest to take every message")
    time.sleep(1.0)
    worker.stop()

    def drained() -> bool:
        g = redis_client.xinfo_groups(FEED_STREAM)[0]
        return g["pending"] == 0 and g["last-delivered-id"] == redis_client.xinfo_stream(FEED_STREAM)["last-generated-id"]

    wait_for(drained, 60, 0.2, what="the alert service to read the whole feed")
    service.send_signal(signal.SIGTERM)  # closes the period, as `pingan run` does at a scenario's end
    assert service.wait(60) == 0, (tmp_path / "alerts.log").read_text()[-3000:]
    log.close()
    with psycopg.connect(db_url) as conn:
        raised = alert_store.find(conn, state="all", since=start, until=end + 3600, limit=10_000)
    score = score_alerts(sim.truth["alerts"], raised)
    assert opened_before > 0  # it was killed with alerts open
    assert (score["precision"], score["recall"]) == (1.0, 1.0), (score["missed"], score["unexpected"])
    # and none twice: one alert per (type, subject) except coverage gaps a visit resolved and that reopened
    pairs = [(a["type"], a["subject"]) for a in raised]
    assert len(pairs) == len(set(pairs)), sorted((a["type"], a["subject"], a["since"], a["opened_at"], a["resolved_at"])
                                                 for a in raised if pairs.count((a["type"], a["subject"])) > 1)
