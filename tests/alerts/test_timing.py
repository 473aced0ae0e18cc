"""Alerts on time, with nothing long on the loop that delivers them: holds and clears run out
whatever the sweep interval (the service waits for the feed only until the next one is due, not
until its next sweep), and the coverage indicator is assessed on a thread of its own (real
PostgreSQL and Redis)."""

from __future__ import annotations

import time

import msgspec
import psycopg

from store.records import FEED_STREAM, DeviceStatus, FeedBatch

from ..conftest import query, wait_for
from .test_unknown import _service


def test_a_hold_and_a_clear_fire_when_they_run_out_not_at_the_next_sweep(db_url, redis_client):
    # a sweep every 10 s; camera_offline holds 1.5 s and clears after 1.5 s
    svc = _service(db_url, redis_client, sweep_every_s=10.0, for_s={"camera_offline": 1.5},
                   clear_for_s={"camera_offline": 1.5}).start()
    assert svc.ready.wait(30)
    time.sleep(0.5)

    def say(online: bool) -> float:
        t = time.time()
        batch = FeedBatch(t, "worker-1", statuses=[DeviceStatus("camera", "cam03", t, online)])
        redis_client.xadd(FEED_STREAM, {"b": msgspec.msgpack.encode(batch)})
        return t

    off = say(False)
    wait_for(lambda: query(db_url, "SELECT 1 FROM pingan.alert WHERE subject = 'cam03'"), 15, 0.05,
             what="camera_offline opened")
    on = say(True)
    wait_for(lambda: query(db_url, "SELECT 1 FROM pingan.alert WHERE subject = 'cam03' AND state = 'resolved'"),
             15, 0.05, what="camera_offline resolved")
    svc.stop()
    svc.dispatcher.close()
    (since, opened, resolved), = query(db_url, "SELECT extract(epoch FROM since)::float8, extract(epoch FROM "
                                               "opened_at)::float8, extract(epoch FROM resolved_at)::float8 "
                                               "FROM pingan.alert WHERE subject = 'cam03'")
    assert abs(since - off) < 1e-3
    assert 0 <= opened - (off + 1.5) < 0.5, opened - off  # not up to 10 s later, at the next sweep
    assert 0 <= resolved - (on + 1.5) < 0.5, resolved - on


def test_the_coverage_indicator_is_judged_off_the_loop(db_url, redis_client, caplog):
    """Nobody patrolled the demo city in the last hour, the ingest receiving all along: every
    street and district is under 90% even with its unknown share (none) counted. The window is
    assessed from the database on a thread of its own — the loop that delivers alerts goes on
    meanwhile — and its alerts open at a later sweep."""
    import logging

    from store.results import record_uptime

    caplog.set_level(logging.INFO, logger="alerts.service")
    query(db_url, "UPDATE pingan.registry_version SET effective_from = now() - interval '3 hours'")
    now = time.time()
    with psycopg.connect(db_url) as conn:
        record_uptime(conn, "worker-1", now - 7200, now + 600)
        for ago in (3000, 2900):  # (the hour has data: a camera said it is up; the service starts from it)
            conn.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) VALUES (to_timestamp(%s), 'cam03', "
                         "true)", (now - ago,))
    svc = _service(db_url, redis_client, indicator_window_s=3600, indicator_every_s=60).start()
    assert svc.ready.wait(30)
    t = time.time()
    batch = FeedBatch(t, "worker-1", statuses=[DeviceStatus("camera", "cam03", t, True)])
    redis_client.xadd(FEED_STREAM, {"b": msgspec.msgpack.encode(batch)})
    below = "SELECT subject FROM pingan.alert WHERE type = 'indicator_below_target' ORDER BY 1"
    wait_for(lambda: len(query(db_url, below)) == 6, 60, 0.1, what="the indicator's alerts")
    svc.stop()
    svc.dispatcher.close()
    assert [r[0] for r in query(db_url, below)] == ["D1", "D1S1", "D1S2", "D2", "D2S1", "D2S2"]
    judged = [r for r in caplog.records if "coverage indicator judged" in r.getMessage()]
    assert judged and all(r.threadName == "alerts-indicator" for r in judged)
