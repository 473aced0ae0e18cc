"""The TimescaleDB path, executed for real on the TimescaleDB engine (PGlite + TimescaleDB 2.x):
migrations, hypertables, compression and retention policies, the hourly uptime aggregate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from store.migrate import COMPRESSED, RETAINED, migrate

from ..services import TimescaleEngine

pytestmark = pytest.mark.timescale


@pytest.fixture(scope="module")
def tsdb():
    engine = TimescaleEngine().start()
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def conn(tsdb):
    with tsdb.connect() as c:
        report = migrate(c, compress_after_days=3, retain_days=90)
        assert report.timescale and report.applied == ["001_registry_and_series", "002_time"]
        yield c


def test_migrations_are_idempotent(conn):
    again = migrate(conn, compress_after_days=3, retain_days=90)
    assert again.timescale and again.applied == [] and again.already == 2
    assert conn.execute("SELECT version, variant FROM pingan.schema_migration ORDER BY version").fetchall() == [
        (1, None), (2, "timescale")]


def test_hypertables_and_policies(conn):
    tables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables "
                                         "WHERE hypertable_schema = 'pingan'")}
    assert tables == {"patrol_ping", "camera_health", "camera_snapshot", "device_status", "checkin", "dead_letter"}
    jobs = conn.execute("SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs "
                        "WHERE hypertable_schema = 'pingan'").fetchall()
    compress = {h: c for p, h, c in jobs if p == "policy_compression"}
    retention = {h: c for p, h, c in jobs if p == "policy_retention"}
    assert set(compress) == set(COMPRESSED) and set(retention) == set(RETAINED)
    assert all(c["compress_after"] == "3 days" for c in compress.values())
    assert all(c["drop_after"] == "90 days" for c in retention.values())
    # re-applying with new settings replaces the policies, it does not add more
    migrate(conn, compress_after_days=5, retain_days=120)
    jobs = conn.execute("SELECT proc_name, config FROM timescaledb_information.jobs "
                        "WHERE hypertable_schema = 'pingan' AND proc_name = 'policy_retention'").fetchall()
    assert len(jobs) == len(RETAINED) and {c["drop_after"] for _, c in jobs} == {"120 days"}
    assert conn.execute("SELECT count(*) FROM timescaledb_information.jobs WHERE proc_name = "
                        "'policy_refresh_continuous_aggregate' AND hypertable_name = 'camera_uptime_hourly'"
                        ).fetchone()[0] == 1


def test_hourly_uptime_aggregate(conn):
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    rows = []
    for minute in range(0, 120, 10):  # 12 heartbeats over two hours
        ts = t0 + timedelta(minutes=minute)
        rows.append((ts, "cam1", minute not in (20, 30, 40), 25.0 if minute < 60 else 12.5))
        rows.append((ts, "cam2", True, 25.0))
    # the engine takes no COPY: array inserts, as the design notes say
    conn.execute("INSERT INTO pingan.camera_health (ts, camera_id, online, fps) "
                 "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::bool[], %s::real[])",
                 ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]))
    conn.execute("CALL refresh_continuous_aggregate('pingan.camera_uptime_hourly', %s::timestamptz, %s::timestamptz)",
                 (t0 - timedelta(hours=1), t0 + timedelta(hours=3)))
    got = conn.execute("SELECT camera_id, bucket, samples, online_samples, avg_fps FROM pingan.camera_uptime_hourly "
                       "ORDER BY camera_id, bucket").fetchall()
    assert got == [
        ("cam1", t0, 6, 3, 25.0),
        ("cam1", t0 + timedelta(hours=1), 6, 6, 12.5),
        ("cam2", t0, 6, 6, 25.0),
        ("cam2", t0 + timedelta(hours=1), 6, 6, 25.0),
    ]
    # the materialized aggregate answers without touching the raw rows
    mat = conn.execute("SELECT count(*) FROM pingan.camera_uptime_hourly WHERE camera_id = 'cam1'").fetchone()[0]
    assert mat == 2


def test_compression_runs(conn):
    t = datetime(2026, 10, 1, tzinfo=timezone.utc)
    conn.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) "
                 "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::float8[], %s::float8[])",
                 ([t + timedelta(seconds=10 * i) for i in range(100)], ["u1"] * 100, [32.0] * 100, [118.0] * 100))
    chunks = [r[0] for r in conn.execute("SELECT show_chunks('pingan.patrol_ping', older_than => %s::timestamptz)",
                                         (t + timedelta(days=2),))]
    assert chunks
    for chunk in chunks:
        conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
    stats = conn.execute("SELECT count(*) FILTER (WHERE is_compressed) FROM timescaledb_information.chunks "
                         "WHERE hypertable_name = 'patrol_ping'").fetchone()[0]
    assert stats == len(chunks)
    assert conn.execute("SELECT count(*) FROM pingan.patrol_ping WHERE unit_id = 'u1'").fetchone()[0] == 100
