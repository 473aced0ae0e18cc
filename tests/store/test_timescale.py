"""The TimescaleDB path on the real engine (TimescaleDB 2.28, built from tests/timescale/, on a
cluster of the tests' own with the library preloaded): migrations, hypertables, compression and
retention policies and their jobs, the writer's COPY, and late and replayed rows written into
compressed chunks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from store.migrate import COMPRESSED, RETAINED, available_migrations, migrate
from store.records import CameraHealth, PatrolFix
from store.writer import Batch, BatchWriter

pytestmark = pytest.mark.timescale


@pytest.fixture
def conn(timescale):
    url = timescale.database("pingan_engine")
    with psycopg.connect(url, autocommit=True) as c:
        report = migrate(c, compress_after_days=3, retain_days=90, timescaledb="require")
        assert report.timescale and report.applied == [
            f"{m.version:03d}_{m.name}" for m in available_migrations() if m.variant in (None, "timescale")]
        yield c


def test_migrations_are_idempotent_on_the_engine(conn):
    assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == ("2.28.3",)
    again = migrate(conn, compress_after_days=3, retain_days=90)
    assert again.timescale and again.applied == [] and again.already == len(again_names := [
        m for m in available_migrations() if m.variant in (None, "timescale")])
    assert conn.execute("SELECT version, variant FROM pingan.schema_migration ORDER BY version").fetchall() == [
        (m.version, m.variant) for m in again_names]
    assert ("timescale",) in conn.execute("SELECT DISTINCT variant FROM pingan.schema_migration").fetchall()


def test_hypertables_policies_and_their_jobs(conn):
    tables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables "
                                         "WHERE hypertable_schema = 'pingan'")}
    assert tables == {"patrol_ping", "camera_health", "camera_snapshot", "device_status", "checkin", "dead_letter",
                      "camera_uptime_hourly"}
    jobs = conn.execute("SELECT job_id, proc_name, hypertable_name, config FROM timescaledb_information.jobs "
                        "WHERE hypertable_schema = 'pingan'").fetchall()
    compress = {h: c for _, p, h, c in jobs if p == "policy_compression"}
    retention = {h: c for _, p, h, c in jobs if p == "policy_retention"}
    assert set(compress) == set(COMPRESSED) and set(retention) == set(RETAINED)
    assert all(c["compress_after"] == "3 days" for c in compress.values())
    assert all(c["drop_after"] == "90 days" for c in retention.values())
    (refresh,) = [j for j, p, h, _ in jobs if p == "policy_refresh_continuous_aggregate"]
    # re-applying with new settings replaces the policies, it does not add more
    migrate(conn, compress_after_days=5, retain_days=120)
    jobs = conn.execute("SELECT proc_name, config FROM timescaledb_information.jobs "
                        "WHERE hypertable_schema = 'pingan' AND proc_name = 'policy_retention'").fetchall()
    assert len(jobs) == len(RETAINED) and {c["drop_after"] for _, c in jobs} == {"120 days"}
    # the jobs run: old data compressed by the compression job, dropped by the retention job
    old = datetime.now(timezone.utc) - timedelta(days=30)
    conn.execute("INSERT INTO pingan.camera_health (ts, camera_id, online) SELECT %s::timestamptz + i * interval "
                 "'1 minute', 'c1', true FROM generate_series(0, 99) i", (old,))
    job = conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' "
                       "AND hypertable_name = 'camera_health'").fetchone()[0]
    conn.execute("CALL run_job(%s)", (job,))
    assert conn.execute("SELECT bool_and(is_compressed) FROM timescaledb_information.chunks "
                        "WHERE hypertable_name = 'camera_health'").fetchone()[0]
    conn.execute("CALL run_job(%s)", (refresh,))  # the daily uptime aggregate's refresh runs too
    migrate(conn, compress_after_days=5, retain_days=7)
    job = conn.execute("SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' "
                       "AND hypertable_name = 'camera_health'").fetchone()[0]
    conn.execute("CALL run_job(%s)", (job,))
    assert conn.execute("SELECT count(*) FROM pingan.camera_health").fetchone()[0] == 0


def test_the_writer_copies_into_hypertables_and_late_rows_into_compressed_chunks(timescale):
    url = timescale.database("pingan_writer")
    with psycopg.connect(url, autocommit=True) as c:
        migrate(c, timescaledb="require")
    t = (datetime.now(timezone.utc) - timedelta(days=20)).timestamp()
    fixes = [(PatrolFix("u1", t + 10 * i, 32.03, 118.75 + i * 1e-5, officers=("a",)), t) for i in range(500)]
    health = [(CameraHealth("c1", t + 60 * i, True, 25.0), t) for i in range(100)]
    with psycopg.connect(url) as conn:
        w = BatchWriter(conn)
        assert w.write(Batch(fixes=fixes, health=health)).inserted == {"patrol_ping": 500, "camera_health": 100}
        conn.commit()
        conn.autocommit = True
        for table in ("patrol_ping", "camera_health"):
            for (chunk,) in conn.execute(f"SELECT show_chunks('pingan.{table}')").fetchall():
                conn.execute("SELECT compress_chunk(%s::regclass)", (chunk,))
        assert conn.execute("SELECT count(*) FILTER (WHERE NOT is_compressed) FROM timescaledb_information.chunks "
                            "WHERE hypertable_schema = 'pingan' AND hypertable_name IN ('patrol_ping', "
                            "'camera_health')").fetchone()[0] == 0
        conn.autocommit = False
        # the same batch replayed (a redelivery after a crash) and a late fix, both into compressed chunks
        late = (PatrolFix("u1", t + 5, 32.03, 118.75, officers=("a",)), t)
        again = w.write(Batch(fixes=[*fixes, late], health=health)).inserted
        conn.commit()
    assert again == {"patrol_ping": 1, "camera_health": 0}
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT ts) FROM pingan.patrol_ping").fetchone() == (501, 501)
        assert conn.execute("SELECT count(*) FROM pingan.camera_health").fetchone()[0] == 100
        # the late rows marked their (long past) hours for recomputation
        assert conn.execute("SELECT count(*) FROM pingan.late_hour").fetchone()[0] >= 3
