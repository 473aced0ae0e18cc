"""Holds and clears run out on time, whatever the sweep interval: the alert service waits for
the feed only until the next one is due, not until its next sweep (real PostgreSQL and Redis)."""

from __future__ import annotations

import time

import msgspec

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
