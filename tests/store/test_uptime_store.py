"""Camera uptime by time, stored per hour and per day of the city's calendar, on plain
PostgreSQL and on TimescaleDB (where the days are a continuous aggregate); stored hours are
reused until late data makes them stale."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from assessment.standards import Standards
from assessment.uptime import camera_uptime
from geofence.sites import Camera, CameraCategory
from store.records import CameraHealth, DeviceStatus
from store.writer import Batch, BatchWriter

from ..conftest import observed, query

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 20, tzinfo=TZ).timestamp()  # the city's midnight
H, M = 3600.0, 60.0
CAM = [Camera("cam01", "", CameraCategory.MAIN_STREET, 25, 118.75, 32.03)]


def uptime(url: str):
    with psycopg.connect(url) as conn:
        (u,) = camera_uptime(conn, CAM, Standards(), DAY, DAY + 24 * H, time.time(), store=True,
                             timescale="ts" in url.rsplit("/", 1)[1])
    return u


def test_hours_and_days_of_uptime(store_url):
    # a heartbeat a minute from 23:00 the day before to 01:00 the day after, silent 07:00 → 07:30:
    # down from 07:01 (the next heartbeat was due) to 07:30 = 29 minutes
    times = [DAY - H + k * M for k in range(int(26 * 60) + 1) if not (8 * 60 < k < 8 * 60 + 30)]
    with psycopg.connect(store_url) as conn:
        conn.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) "
                     "SELECT to_timestamp(t), 'cam01', true FROM unnest(%s::float8[]) t", (times,))
    observed(store_url, DAY - 2 * H, DAY + 26 * H)
    u = uptime(store_url)
    assert (u.up_s, u.down_s, u.unknown_s, u.outages) == (86_400 - 29 * M, 29 * M, 0.0, 1)
    # 24 hourly rows stored; the day, bucketed at the city's midnight, sums them
    hours = query(store_url, "SELECT date_part('epoch', bucket), up_s, down_s FROM pingan.camera_uptime_hourly "
                             "ORDER BY bucket")
    assert len(hours) == 24 and hours[0][0] == DAY
    assert [h[2] for h in hours if h[2]] == [29 * M]  # all in the hour from 07:00
    day = query(store_url, "SELECT date_part('epoch', day), up_s, down_s, unknown_s, outages, hours "
                           "FROM pingan.camera_uptime_daily WHERE camera_id = 'cam01'")
    assert day == [(DAY, 86_400 - 29 * M, 29 * M, 0.0, 1, 24)]
    if "pingan_ts_" in store_url:  # the continuous aggregate, materialised, says the same
        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("CALL refresh_continuous_aggregate('pingan.camera_uptime_daily', NULL, NULL)")
            assert conn.execute("SELECT count(*) FROM _timescaledb_catalog.continuous_agg").fetchone()[0] == 1
        assert query(store_url, "SELECT up_s, down_s, hours FROM pingan.camera_uptime_daily") == [
            (86_400 - 29 * M, 29 * M, 24)]


def test_stored_hours_are_reused_until_late_data_makes_them_stale(store_url):
    times = [DAY - H + k * M for k in range(int(26 * 60) + 1)]
    with psycopg.connect(store_url) as conn:
        conn.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) "
                     "SELECT to_timestamp(t), 'cam01', true FROM unnest(%s::float8[]) t", (times,))
    observed(store_url, DAY - 2 * H, DAY + 26 * H)
    assert uptime(store_url).down_s == 0
    # raw rows removed behind the store's back: the stored hours still answer (they were reused)
    query(store_url, "DELETE FROM pingan.camera_health WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
          (DAY + 10 * H, DAY + 10.5 * H))
    assert uptime(store_url).down_s == 0
    # late data through the writer: "offline" at 12:00:30 (its own time), back online at 12:10:30
    # (the heartbeats in between were never sent). Hours 11–13 are marked stale and computed
    # again: ten minutes down. Hour 10, untouched by late data, still comes from storage.
    query(store_url, "DELETE FROM pingan.camera_health WHERE ts > to_timestamp(%s) AND ts <= to_timestamp(%s)",
          (DAY + 12 * H, DAY + 12 * H + 10 * M))
    with psycopg.connect(store_url) as conn:
        w = BatchWriter(conn)
        b = Batch(statuses=[DeviceStatus("camera", "cam01", DAY + 12 * H + 30, False)],
                  health=[(CameraHealth("cam01", DAY + 12 * H + 10 * M + 30, True), time.time())])
        w.write(b)
        conn.commit()
    assert query(store_url, "SELECT count(*) FROM pingan.late_hour")[0][0] == 3
    u = uptime(store_url)
    assert (u.down_s, u.outages) == (600.0, 1)
