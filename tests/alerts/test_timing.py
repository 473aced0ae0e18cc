"""Alerts on time, with nothing long on the loop that delivers them: holds and clears run out
whatever the sweep interval (the service waits for the feed only until the next one is due, not
until its next sweep), and the coverage indicator is assessed on a thread of its own (real
PostgreSQL and Redis)."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

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


def _yesterday_unpatrolled(db_url: str) -> tuple[float, float]:
    """The demo city's yesterday (city time): the ingest receiving all day, a camera saying it was
    up, nobody patrolling — every street and district under 90% even with its unknown share (none)
    counted. Returns the day's [start, end)."""
    from assessment.periods import midnight
    from store.results import record_uptime

    now = time.time()
    tz = ZoneInfo("Asia/Shanghai")
    today = midnight(datetime.fromtimestamp(now, tz).date(), "Asia/Shanghai")
    if now - today < 400:  # the day just began: the indicator looks for yesterday only from 300 s on
        time.sleep(400 - (now - today))
    d0, d1 = today - 86_400, today
    query(db_url, "UPDATE pingan.registry_version SET effective_from = to_timestamp(%s)" % (d0 - 86_400))
    with psycopg.connect(db_url) as conn:
        record_uptime(conn, "worker-1", d0 - 3600, time.time() + 600)
        for ago in (3000, 2900):
            conn.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) VALUES (to_timestamp(%s), 'cam03', "
                         "true)", (d1 - ago,))
    return d0, d1


def _indicator_alerts(db_url: str, redis_client, **settings) -> list:
    svc = _service(db_url, redis_client, **settings).start()
    assert svc.ready.wait(30)
    t = time.time()
    batch = FeedBatch(t, "worker-1", statuses=[DeviceStatus("camera", "cam03", t, True)])
    redis_client.xadd(FEED_STREAM, {"b": msgspec.msgpack.encode(batch)})
    below = "SELECT subject, detail->>'from', detail->>'to' FROM pingan.alert WHERE type = 'indicator_below_target' " \
            "ORDER BY 1"
    wait_for(lambda: len(query(db_url, below)) == 6, 30, 0.1, what="the indicator's alerts")
    svc.stop()
    svc.dispatcher.close()
    return query(db_url, below)


def test_the_coverage_indicator_reads_the_closed_day_the_sweeper_stored_off_the_loop(db_url, redis_client, caplog):
    """Yesterday, stored by the assessment (as the sweeper does); its raw rows gone afterwards
    (as retention drops them): the indicator is judged from the stored day alone, on a thread of
    its own — the loop that delivers alerts goes on meanwhile — and its alerts open at a later
    sweep."""
    import logging

    from assessment.defence import Assessor
    from assessment.standards import Standards

    caplog.set_level(logging.INFO, logger="alerts.service")
    d0, d1 = _yesterday_unpatrolled(db_url)
    with psycopg.connect(db_url) as conn:
        Assessor(conn, Standards(), store=True).period(d0, d1)
    assert query(db_url, "SELECT count(DISTINCT day) FROM pingan.coverage_daily") == [(1,)]
    query(db_url, "DELETE FROM pingan.camera_health")
    rows = _indicator_alerts(db_url, redis_client)
    assert [r[0] for r in rows] == ["D1", "D1S1", "D1S2", "D2", "D2S1", "D2S2"]
    assert {(float(r[1]), float(r[2])) for r in rows} == {(d0, d1)}
    judged = [r for r in caplog.records if "coverage indicator judged" in r.getMessage()]
    assert judged and all(r.threadName == "alerts-indicator" for r in judged)


def test_the_coverage_indicator_assesses_a_closed_day_nobody_stored_after_its_wait(db_url, redis_client):
    """No sweeper stored yesterday: with the wait over the service assesses it itself, and stores it."""
    d0, d1 = _yesterday_unpatrolled(db_url)
    rows = _indicator_alerts(db_url, redis_client, indicator_wait_s=0)
    assert [r[0] for r in rows] == ["D1", "D1S1", "D1S2", "D2", "D2S1", "D2S2"]
    assert query(db_url, "SELECT count(DISTINCT cell_id) > 0 FROM pingan.coverage_daily "
                         "WHERE part_from = to_timestamp(%s)" % d0) == [(True,)]
