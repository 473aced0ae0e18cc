"""The service stores what closes: camera uptime per hour, coverage per day; a period longer
than a day is assembled from stored days; late data makes a stored day stale."""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg

from assessment.defence import Assessor
from assessment.service import Sweeper
from assessment.standards import Standards
from store.records import PatrolFix
from store.writer import Batch, BatchWriter

from ..conftest import observed, query
from ..pingan.test_coverage_cli import coverage

Z = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 20, tzinfo=Z).timestamp()
H = 3600.0


def test_the_sweeper_stores_closed_hours_and_days_and_recomputes_stale_ones(db_url):
    # u01 drives through D1S1G1 08:00 → 08:33 and on into D1S1G2; cam01 beats all day
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        n = 361
        cur.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) SELECT to_timestamp(%s + 10 * i), 'u01', "
                    "32.0275, 118.741 + 0.034 * i / 360.0 FROM generate_series(0, %s) i", (DAY + 8 * H, n - 1))
        cur.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) SELECT to_timestamp(%s + 60 * i), "
                    "'cam01', true FROM generate_series(0, 60 * 30) i", (DAY - H,))
    observed(db_url, DAY - 2 * H, DAY + 29 * H)
    clock = DAY + 27 * H  # 03:00 the next morning: the 20th has closed
    sweeper = Sweeper(lambda: psycopg.connect(db_url), Standards(), timescale=False, clock=lambda: clock,
                      days_back=1)
    with psycopg.connect(db_url) as conn:
        assert sweeper.sweep(conn) == (6, 1)  # the closed hours 20:00 … 02:00; the 20th
    # all 12 cameras have the six closed hours stored (20:00 … 02:00); the 10 key cameras also
    # the 24 hours of the 20th, which its assessment needed: 6 × 12 + 20 × 10
    assert query(db_url, "SELECT count(*), count(DISTINCT camera_id) FROM pingan.camera_uptime_hourly") == [(272, 12)]
    assert query(db_url, "SELECT count(*) FROM pingan.camera_uptime_hourly WHERE bucket = to_timestamp(%s)",
                 (DAY + 25 * H,)) == [(12,)]
    rows = dict(query(db_url, "SELECT cell_id, status FROM pingan.coverage_daily WHERE day = '2026-11-20'"))
    assert len(rows) == 16
    # D1S1G1 (120 min revisit): visited only 08:00–08:33, so 00:00 → 08:00 is too long a gap
    assert rows["D1S1G1"] == "not_covered"
    with psycopg.connect(db_url) as conn:
        assert sweeper.sweep(conn) == (6, 0)  # nothing new
        # a fix for the 20th arrives late: the stored day is stale and assessed again
        BatchWriter(conn).write(Batch(fixes=[(PatrolFix("u02", DAY + 20 * H, 32.07, 118.79), time.time())]))
        conn.commit()
        assert sweeper.sweep(conn) == (6, 1)


def test_a_long_period_is_assembled_from_stored_days(db_url):
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        # u01 parks in D1S1G1 on both days, a fix every minute, and its camera (cam01) beats:
        # that cell is covered both days
        cur.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) SELECT to_timestamp(%s + 60 * i), 'u01', "
                    "32.0275, 118.75 FROM generate_series(0, 2 * 24 * 60 - 1) i", (DAY,))
        cur.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) SELECT to_timestamp(%s + 60 * i), "
                    "'cam01', true FROM generate_series(0, 2 * 24 * 60) i", (DAY,))
    observed(db_url, DAY, DAY + 2 * 24 * H)
    with psycopg.connect(db_url) as conn:
        a = Assessor(conn, Standards(), clock=time.time)
        first = a.period(DAY, DAY + 48 * H)
        assert first.stored_parts == 0 and len(first.parts) == 2
        again = a.period(DAY, DAY + 48 * H)
        assert again.stored_parts == 2  # the two closed days were stored the first time
        assert again.cell_shares() == first.cell_shares()
        assert again.cell_shares()["D1S1G1"]["covered"] == 1.0
    r = coverage(db_url, "--from", "2026-11-20", "--to", "2026-11-22", "--level", "street", "--json")
    doc = json.loads(r.stdout)
    assert doc["data"]["parts"] == 2 and doc["data"]["parts_from_stored_days"] == 2
    # D1S1: G1 covered both days, its three other cells never (cam02 and cam04 were never heard
    # from, but those cells fail on patrol anyway): a quarter of the street's cell-days
    assert {a["id"]: a["covered"] for a in doc["areas"]}["D1S1"] == 0.25
    assert doc["cells"]["D1S1G1"] == {"covered": 1.0, "unknown": 0.0, "not_covered": 0.0}


def test_pingan_sweep_once(db_url):
    # nothing was heard from any camera: their last six closed hours are stored as unknown
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    r = subprocess.run([sys.executable, "-m", "pingan.cli", "sweep", "--once"], capture_output=True, text=True,
                       env={**env, "PINGAN_DATABASE_URL": db_url}, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "camera uptime of the last 6 closed hours stored; 0 day(s) assessed and stored" in r.stdout
    assert query(db_url, "SELECT count(*), sum(up_s), sum(unknown_s) FROM pingan.camera_uptime_hourly") == [
        (72, 0.0, 72 * 3600.0)]
