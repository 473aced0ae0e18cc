"""Scenarios: the same seed gives the same traffic and truth; every fault kind is injected and
written down; truth and product agree; the load mode reaches its target."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime, timezone

import cv2
import numpy as np
import psycopg
import pytest

from assessment.defence import Assessor
from assessment.standards import Standards
from geofence.grid import Level, Priority
from pingan.coverage import summary
from simulators.fleet import IMAGE_FAULTS
from simulators.publish import Broker, publish, publish_load
from simulators.scenario import FAULT_KINDS, Scenario, run
from simulators.truth import compare
from store.registry import UnitRow, sync

from ..conftest import RunningWorker, make_settings, observed, query, wait_for

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
    # (the ingest outage has a scenario of its own: outage)
    assert {f["kind"] for f in sim.truth["faults"]} | {"ingest_outage"} == set(FAULT_KINDS)
    assert {f.kind for f in Scenario.load("outage").faults} >= {"ingest_outage"}
    start = FIXED.timestamp()
    for f in sim.truth["faults"]:
        assert start <= f["start"] < f["end"] <= start + 3600, f
    # an alert for each camera fault, each image fault seen on two snapshots running and the GPS dropout,
    # on its target; coverage gaps, understaffed checkpoints, units out of their area and areas under
    # the coverage target from the plan
    faults = [a for a in sim.truth["alerts"] if a["type"] not in (
        "coverage_gap", "checkpoint_understaffed", "unit_out_of_area", "indicator_below_target")
        and not a.get("optional")]
    assert sorted(a["type"] for a in faults if not a["type"].startswith("image_")) == sorted([
        "camera_offline", "camera_flapping", "camera_low_fps", "camera_not_recording", "camera_storage_fault",
        "unit_silent"])
    # an image fault another one hides (two on one camera at once) may show on one snapshot only: optional
    shown = {a["type"] for a in sim.truth["alerts"] if a["type"].startswith("image_")}
    assert shown == {f"image_{f}" for f in IMAGE_FAULTS} and len([a for a in faults if "image_" in a["type"]]) >= 7
    targets = {f["kind"]: f["target"] for f in sim.truth["faults"]}
    for a in faults:
        kind = {"camera_low_fps": "low_fps", "camera_not_recording": "not_recording",
                "camera_storage_fault": "storage_fault", "unit_silent": "gps_dropout"}.get(a["type"], a["type"])
        assert a["subject"] == targets[kind]
        assert a["to"] - a["from"] > 0
    gaps = {a["subject"] for a in sim.truth["alerts"] if a["type"] == "coverage_gap" and not a.get("optional")}
    assert gaps == {c for c, v in sim.truth["coverage"]["cells"].items() if v["patrol"] == ["not_covered"]}
    assert set(sim.truth["rejects"]) == {"duplicate", "future_timestamp", "malformed", "oversized", "not_jpeg",
                                         "unknown_device"}
    # the image faults are visible in the snapshots: a frozen camera repeats itself
    frozen = next(f for f in sim.truth["faults"] if f["kind"] == "image_frozen")
    shots = [m.payload for m in sim.messages if m.topic == f"pingan/v1/camera/{frozen['target']}/snapshot"
             and frozen["start"] <= m.at < frozen["end"]]
    # the same picture each time: only the time changes, in its EXIF and in the OSD clock at the top
    pictures = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in shots]
    assert len(shots) >= 2 and len(set(shots)) == len(shots)
    assert all((p[24:] == pictures[0][24:]).all() for p in pictures)
    assert len({p[:24].tobytes() for p in pictures}) == len(pictures)
    # a live camera's pictures change from one snapshot to the next
    live = [cv2.imdecode(np.frombuffer(m.payload, np.uint8), cv2.IMREAD_COLOR) for m in sim.messages
            if m.topic == f"pingan/v1/camera/{frozen['target']}/snapshot" and m.at < frozen["start"]][:2]
    assert not (live[0] == live[1]).all()


@pytest.mark.slow
def test_truth_and_product_agree_through_broker_worker_and_store(broker, db_url, redis_client):
    sim = run(Scenario.load("small").model_copy(update={
        "start": datetime.fromtimestamp((int(time.time()) // 60) * 60 - 3600, timezone.utc)}))
    with psycopg.connect(db_url) as conn:
        sync(conn, sim.city.grid, sim.city.cameras, sim.city.checkpoints,
             [UnitRow(u.id, u.kind, u.team) for u in sim.city.units], effective=time.time() - 7200)
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
    start = datetime.fromisoformat(sim.truth["scenario"]["start"]).timestamp()
    observed(db_url, start, start + 3600, "replay:small")  # the replayed hour: received, though after the fact
    truth = sim.truth["coverage"]
    # the truth is not vacuous: the small scenario has covered and uncovered cells, cameras down
    statuses = [c["status"] for c in truth["cells"].values()]
    assert ["covered"] in statuses and ["not_covered"] in statuses
    assert sorted(round(c["uptime"], 4) for c in truth["cameras"].values() if c["uptime"] < 1) == [0.75, 0.9167]

    def product(std: Standards, counted_uptime: bool = False) -> dict:
        with psycopg.connect(db_url) as conn:
            a = Assessor(conn, std, store=False)
            out = summary(a, a.period(start, start + 3600))
        if counted_uptime:  # the old way: online heartbeats over heartbeats received
            out["cameras"] = dict(query(db_url, "SELECT camera_id, avg(online::int)::float8 FROM pingan.camera_health "
                                                "GROUP BY camera_id"))
        return out

    verdict = compare(truth, product(Standards()))
    assert {part: (v["agree"], v["total"]) for part, v in verdict.items()} == {
        part: (v["total"], v["total"]) for part, v in verdict.items()}, verdict
    assert verdict["cells"]["total"] == 60 and verdict["camera_uptime"]["total"] >= 20
    # and the comparison catches a wrong rule: uptime by heartbeats counted, or another revisit standard
    wrong = compare(truth, product(Standards(), counted_uptime=True))
    assert {d["id"] for d in wrong["camera_uptime"]["disagreements"]} == {
        c for c, v in truth["cameras"].items() if v["uptime"] < 1}
    strict = Standards(patrol=replace(Standards().patrol, revisit_minutes={Priority.KEY: 15.0, Priority.NORMAL: 30.0}))
    assert compare(truth, product(strict))["patrol"]["disagreements"]


def test_the_clean_city_meets_every_standard_by_its_truth():
    sim = run(Scenario.load("clean").model_copy(update={"start": FIXED}))
    truth = sim.truth["coverage"]
    assert all(c["status"] == ["covered"] for c in truth["cells"].values())
    assert all(lo == hi == 1.0 for areas in truth["areas"].values() for lo, hi in areas.values())
    assert sim.truth["alerts"] == [] and sim.truth["faults"] == []
    # a 4 km city: its cells a few hundred metres across, as a city's patrol grid is
    west, south, east, north = sim.city.grid.at_level(Level.CITY)[0].geometry.bounds
    assert 3.9 < (north - south) * 110.574 < 4.1


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
