"""The plain-PostgreSQL path: migrations, idempotent batched writes, refused rows kept."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import psycopg
import pytest

from ingest.worker import IngestWorker
from store.migrate import MigrationError, available_migrations, migrate
from store.records import CameraHealth, DeadLetter, PatrolFix, RejectReason
from store.writer import Batch, BatchWriter

from ..conftest import make_settings, query


def _names(variant: str) -> list[str]:
    return [f"{m.version:03d}_{m.name}" for m in available_migrations() if m.variant in (None, variant)]


def test_plain_migration_is_idempotent_with_brin(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        again = migrate(conn)
    assert not again.timescale and again.applied == [] and again.already == len(_names('plain'))
    brin = {r[0] for r in query(db_url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'pingan' "
                                        "AND indexdef LIKE '%%USING brin%%'")}
    assert brin == {"patrol_ping_ts_brin", "camera_health_ts_brin", "camera_snapshot_ts_brin",
                    "device_status_ts_brin", "checkin_ts_brin", "dead_letter_ts_brin", "camera_uptime_hourly_brin"}


def test_timescaledb_installed_but_not_preloaded(db_url, caplog):
    """This server has the extension installed but does not preload it, where CREATE EXTENSION
    is a FATAL error that drops the connection: detected before, and answered as configured."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA pingan CASCADE")
        with pytest.raises(MigrationError, match="add shared_preload_libraries = 'timescaledb' to postgresql.conf"):
            migrate(conn, timescaledb="require")
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection survived
        report = migrate(conn, timescaledb="auto")
        assert not report.timescale and report.applied == _names('plain')
    assert "using plain PostgreSQL" in caplog.text


def _batch(now: float) -> Batch:
    b = Batch()
    b.fixes = [(PatrolFix("u01", now - i, 32.03, 118.75, officers=("a",), cell_id="D1S1G1"), now) for i in range(50)]
    b.health = [(CameraHealth("cam01", now - i, True, 25.0), now) for i in range(5)]
    b.dead = [DeadLetter(now, "pingan/v1/patrol/u01/gps", RejectReason.MALFORMED, "x", "u01", b"{", 1)]
    return b


def test_writing_a_batch_twice_leaves_one_copy(db_url):
    now = datetime.now(timezone.utc).timestamp()
    with psycopg.connect(db_url) as conn:
        w = BatchWriter(conn)
        first = w.write(_batch(now)).inserted
        second = w.write(_batch(now)).inserted
    assert first == {"patrol_ping": 50, "camera_health": 5, "dead_letter": 1}
    assert second == {"patrol_ping": 0, "camera_health": 0, "dead_letter": 1}  # dead letters are a log
    assert query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0] == 50


def test_a_row_the_database_refuses_is_dead_lettered_and_the_rest_kept(db_url, broker):
    worker = IngestWorker(make_settings(broker.url, db_url), source=None,
                          connect=lambda: psycopg.connect(db_url), hot=None)
    now = datetime.now(timezone.utc).timestamp()
    batch = _batch(now)
    batch.fixes.append((PatrolFix("u02", now, 32.03, 118.75, officers=("bad\x00id",)), now))
    inserted = worker._retry_db(lambda: worker._write(batch)).inserted
    assert inserted["patrol_ping"] == 50
    (reason, topic, detail, device), = query(
        db_url, "SELECT reason, topic, detail, device_id FROM pingan.dead_letter WHERE reason = 'store_error'")
    assert (reason, topic, device) == ("store_error", "(store) PatrolFix", "u02") and "0x00" in detail
    assert any(d.reason is RejectReason.STORE_ERROR for d in batch.dead)  # counted like any reject
    worker._drop_connection()


def test_one_refused_row_in_2000_costs_a_few_transactions_not_2000(db_url, broker):
    worker = IngestWorker(make_settings(broker.url, db_url), source=None,
                          connect=lambda: psycopg.connect(db_url), hot=None)
    now = datetime.now(timezone.utc).timestamp()
    batch = Batch(fixes=[(PatrolFix("u01", now - i, 32.03, 118.75), now) for i in range(2000)])
    batch.fixes[1234] = (PatrolFix("u02", now, 32.03, 118.75, officers=("bad\x00id",)), now)
    worker._connection()
    writes = []
    real = worker._writer.write
    worker._writer.write = lambda b, *a: writes.append(len(b)) or real(b, *a)
    result = worker._retry_db(lambda: worker._write(batch))
    worker._drop_connection()
    assert result.inserted["patrol_ping"] == 1999 and result.rejected == {"store_error": 1}
    # the whole batch, then halves down to the one row (2 × 11 levels), then its dead letter
    assert len(writes) <= 2 + 2 * 11, writes
    assert query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0] == 1999


def test_a_redelivered_message_is_not_dead_lettered_twice(db_url):
    now = datetime.now(timezone.utc).timestamp()
    bad = DeadLetter(now, "pingan/v1/patrol/u01/gps", RejectReason.MALFORMED, "x", "u01", b"{", 1, "d1", False)
    with psycopg.connect(db_url) as conn:
        w = BatchWriter(conn)
        assert w.write(Batch(dead=[bad])).rejected == {"malformed": 1}
        # the broker sends it again (its acknowledgement was lost): not a second reject
        again = msgspec.structs.replace(bad, received=now + 5, redelivered=True)
        assert w.write(Batch(dead=[again])).rejected == {}
        # the same bad bytes sent again by the device itself are a second reject
        assert w.write(Batch(dead=[msgspec.structs.replace(bad, received=now + 9)])).rejected == {"malformed": 1}
        conn.commit()
    assert query(db_url, "SELECT count(*) FROM pingan.dead_letter")[0][0] == 2
