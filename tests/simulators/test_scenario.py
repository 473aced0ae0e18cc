"""Scenarios: the same seed gives the same traffic and truth; every fault kind is injected and
written down; truth and product agree; the load mode reaches its target."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from pingan.coverage import compute
from simulators.publish import Broker, publish, publish_load
from simulators.scenario import FAULT_KINDS, Scenario, run
from store.registry import UnitRow, sync

from ..conftest import RunningWorker, make_settings, query, wait_for

FIXED = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)


def test_same_seed_same_city_traffic_and_truth():
    sc = Scenario.load("small").model_copy(update={"start": FIXED})
    a, b = run(sc), run(sc)
    assert [(m.at, m.topic, m.payload) for m in a.messages] == [(m.at, m.topic, m.payload) for m in b.messages]
    assert a.truth == b.truth
    other = run(sc.model_copy(update={"seed": 4}))
    assert [m.payload for m in other.messages[:50]] != [m.payload for m in a.messages[:50]]


def test_every_fault_kind_is_in_a_scenario_and_in_its_truth():
    sim = run(Scenario.load("small").model_copy(update={"start": FIXED}))
    assert {f["kind"] for f in sim.truth["faults"]} == set(FAULT_KINDS)
    start = FIXED.timestamp()
    for f in sim.truth["faults"]:
        assert start <= f["start"] < f["end"] <= start + 3600, f
    alerts = {(a["type"], a["subject"]) for a in sim.truth["alerts"]}
    camera_faults = [f for f in sim.truth["faults"] if f["kind"].startswith(("camera_", "image_"))
                     or f["kind"] in ("low_fps", "not_recording", "storage_fault")]
    assert len(alerts) >= len(camera_faults)
    assert set(sim.truth["rejects"]) == {"duplicate", "future_timestamp", "malformed", "oversized", "not_jpeg",
                                         "unknown_device"}
    # the image faults are visible in the snapshots: a frozen camera repeats itself
    frozen = next(f for f in sim.truth["faults"] if f["kind"] == "image_frozen")
    shots = [m.payload for m in sim.messages if m.topic == f"pingan/v1/camera/{frozen['target']}/snapshot"
             and frozen["start"] <= m.at < frozen["end"]]
    assert len(shots) >= 2 and len(set(shots)) == 1


@pytest.mark.slow
def test_truth_and_product_agree_through_broker_worker_and_store(broker, db_url, redis_client):
    sim = run(Scenario.load("small").model_copy(update={
        "start": datetime.fromtimestamp((int(time.time()) // 60) * 60 - 3600, timezone.utc)}))
    with psycopg.connect(db_url) as conn:
        sync(conn, sim.city.grid, sim.city.cameras, sim.city.checkpoints,
             [UnitRow(u.id, u.kind, u.team) for u in sim.city.units])
    w = RunningWorker(make_settings(broker.url, db_url), redis_client).start()
    report = publish(sim.messages, Broker("127.0.0.1", broker.port), None, client_id=f"sim-{os.getpid()}",
                     progress=False)
    assert report.messages == len(sim.messages)
    expected = sum(sim.truth["rejects"].values())
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pingan.dead_letter")[0][0] >= expected, 120, 0.5,
             what="every expected reject")
    time.sleep(1.0)
    w.stop()
    got = dict(query(db_url, "SELECT reason, count(*)::int FROM pingan.dead_letter GROUP BY reason"))
    assert got == sim.truth["rejects"]
    start = sim.truth["scenario"]["start"]
    end = (datetime.fromisoformat(start) + timedelta(seconds=3600)).isoformat()
    product = compute(db_url, start, end, "city", "count")
    truth = sim.truth["coverage"]
    assert {c: str(product.patrol[c].status) for c in truth} == {c: v["status"] for c, v in truth.items()}
    assert {c: product.patrol[c].visits for c in truth} == {c: v["visits"] for c, v in truth.items()}


def test_load_mode_reaches_its_target(tmp_path):
    from ..services import Mosquitto

    broker = Mosquitto(tmp_path / "broker").start()  # its own: no other test's sessions to queue for
    try:
        sim = run(Scenario.load("clean").model_copy(update={"start": FIXED}))
        gps = [m for m in sim.messages if m.topic.endswith("/gps")]
        report = publish_load(gps, Broker("127.0.0.1", broker.port), 3000, 2, 4)
    finally:
        broker.stop()
    assert report.rate >= 0.9 * 3000, report
