"""Unknown is never failure, live either: the alert service against the real PostgreSQL, Redis
(and, for a fresh start, Mosquitto and an ingest worker) raises nothing for time in which the
ingest was not receiving — before it started, or during an outage — exactly as the assessment
calls that time unknown."""

from __future__ import annotations

import json
import time

import msgspec
import psycopg

from alerts.notify import Dispatcher, StreamNotifier
from alerts.service import AlertService
from alerts.settings import AlertSettings
from assessment.standards import Standards
from store.records import ALERT_STREAM, CELL_VISITS, FEED_STREAM, CameraHealth, FeedBatch, PatrolFix
from store.results import record_uptime

from ..conftest import query, wait_for

CAMERAS = [f"cam{k:02d}" for k in range(1, 13)]
# each unit parked inside its team's street; u01 and u02 staff the two checkpoints (within 80 m)
PARKED = {"u01": (118.742, 32.0496, "D1S1G3"), "u02": (118.818, 32.0496, "D2S1G4"),
          "u03": (118.75, 32.0575, "D1S2G1"), "u04": (118.79, 32.0575, "D2S2G1"),
          "u05": (118.77, 32.0275, "D1S1G2"), "u06": (118.79, 32.0275, "D2S1G1"),
          "u07": (118.77, 32.0725, "D1S2G4"), "u08": (118.81, 32.0725, "D2S2G4")}
PATROL_TYPES = ("coverage_gap", "checkpoint_understaffed", "team_under_strength")


def _service(db_url: str, client, wall=time.time, **settings) -> AlertService:
    s = AlertSettings(group_window_s=0, **{"sweep_every_s": 0.02, **settings})
    return AlertService(s, Standards(), lambda: psycopg.connect(db_url), client,
                        Dispatcher([StreamNotifier(client, ALERT_STREAM)], 0), consumer="alerts-unknown", wall=wall)


def test_a_fresh_start_raises_no_coverage_staffing_or_team_alert_and_nothing_from_before_it(
        db_url, redis_client, start_worker, publisher):
    """The city's day began hours before Pingan did: its cells were not "unvisited" then, its
    checkpoints not "unstaffed", its teams not "under strength" — nobody was looking."""
    start_worker()
    svc = _service(db_url, redis_client).start()
    assert svc.ready.wait(30)
    now = time.time()
    for uid, (lon, lat, _) in PARKED.items():
        for k in range(3):
            publisher.publish(f"pingan/v1/patrol/{uid}/gps", {"ts": now + k, "lat": lat, "lon": lon,
                                                              "officers": [f"{uid}-a", f"{uid}-b"]})
    for cam in CAMERAS:
        publisher.publish(f"pingan/v1/camera/{cam}/health", {"ts": now, "online": True, "fps": 25.0,
                                                            "recording": True, "storage_ok": True})
    publisher.flush()
    wait_for(lambda: svc.stats.records >= 36, 30, what="the service to take the records")
    time.sleep(3.0)  # several sweeps, a coverage judgement among them (the first comes at once)
    assert svc._period is not None  # the day was judged
    started = query(db_url, "SELECT extract(epoch FROM min(since)) FROM pingan.ingest_uptime")[0][0]
    rows = query(db_url, "SELECT type, subject, extract(epoch FROM since)::float8 FROM pingan.alert")
    svc.stop()
    svc.dispatcher.close()
    assert [r for r in rows if r[0] in PATROL_TYPES] == []
    assert all(since >= float(started) for _, _, since in rows), rows  # nothing "since" before anyone received
    # the dashboard's cells start grey: no unit has stayed long enough anywhere for a visit, no gap is open
    from api.views import Registry, cell_features

    visits = {k.decode(): float(v) for k, v in redis_client.hgetall(CELL_VISITS).items()}
    with psycopg.connect(db_url) as conn:
        cells = cell_features(conn, Registry.load(conn, time.time()), Standards(), time.time(), visits=visits)
    assert {f["properties"]["state"] for f in cells["features"]} == {"unknown"}


def test_a_20_minute_ingest_outage_mid_shift_notifies_ingest_stalled_and_nothing_else(db_url, redis_client):
    """Fifty-five minutes of a quiet, well-staffed city on a clock of the test's own: received for
    25 minutes, then nothing for 20 (no worker receiving, nothing on the feed), then received again.
    Every unit and camera comes back on its own beat after the outage (up to 24 s late). The key
    cells (30 minutes), the checkpoints and the cameras would all have "failed" had the outage been
    counted; only the stalled ingest may be said."""
    base = float(int(time.time()))
    clock = [base]
    svc = _service(db_url, redis_client, wall=lambda: clock[0]).start()
    assert svc.ready.wait(30)
    outage = (1500, 2700)
    run_since = 0
    taken = 0
    with psycopg.connect(db_url) as conn:
        for t in range(0, 3300, 10):
            clock[0] = base + t
            receiving = not outage[0] <= t < outage[1]
            if receiving:
                # as a worker does: its run on record before what it received is on the feed, every 10 s
                run_since = outage[1] - 1 if t >= outage[1] else 0  # (reconnected a second before)
                record_uptime(conn, "worker-1", base + run_since, base + t)
                conn.commit()
                fixes = [PatrolFix(uid, base + t + k, lat, lon, officers=(f"{uid}-a", f"{uid}-b"), cell_id=cell)
                         for k, (uid, (lon, lat, cell)) in enumerate(PARKED.items(), start=1)
                         if not (t == outage[1] and k > 4)]  # half the units are heard from 10 s later
                beats = [CameraHealth(cam, base + t + 2 * k % 10, True, 25.0, recording=True, storage_ok=True)
                         for k, cam in enumerate(CAMERAS) if (t + 10 * k) % 30 < 10]  # every 30 s, staggered
                batch = FeedBatch(base + t, "worker-1", fixes, beats)
                redis_client.xadd(FEED_STREAM, {"b": msgspec.msgpack.encode(batch)})
                taken += 1
                wait_for(lambda: svc.stats.entries >= taken, 10, 0.005, what=f"the feed entry at {t} s")
            time.sleep(0.06)  # a few sweeps at this moment
    time.sleep(1.0)
    svc.stop()
    svc.dispatcher.close()
    rows = query(db_url, "SELECT type, subject, state FROM pingan.alert ORDER BY opened_at")
    notified = [json.loads(f[b"alert"]) for _, f in redis_client.xrange(ALERT_STREAM)]
    assert [(r[0], r[1]) for r in rows] == [("ingest_stalled", "ingest")], rows
    assert rows[0][2] == "resolved"  # … and it resolved when the feed came back
    assert {n["type"] for n in notified} == {"ingest_stalled"}
    # the service did look: the key cells' gaps, counted with the outage, would be 55 minutes
    assert svc._period is not None and svc.stats.records > 2000
