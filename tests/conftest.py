"""Fixtures: real Mosquitto (product configuration), PostgreSQL and Redis; a running worker."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
import psycopg
import pytest
import redis

from ingest.hotstate import HotState
from ingest.mqtt import BrokerAddress, MqttSource
from ingest.worker import IngestWorker
from pingan.config import Settings
from pingan.services import load_registry
from store.migrate import migrate
from store.registry import UnitRow, sync
from store.results import record_uptime

from .services import Mosquitto, TimescaleCluster

PG_ADMIN = os.environ.get("TEST_PINGAN_DATABASE_URL", "postgresql://pingan@127.0.0.1:5432/pingan")
REDIS_URL = os.environ.get("TEST_PINGAN_REDIS_URL", "redis://127.0.0.1:6379/9")
_counter = itertools.count()

# Devices the tests use beyond the demo city's u01…u08, cam01…cam12, cp-west, cp-east.
TEST_UNITS = [UnitRow("ot-alice", "foot", "D1S1", "Alice", owntracks="alice/phone")]


# -- failing on swallowed exceptions ---------------------------------------------------------------
class _ExceptionLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_logged_exceptions():
    """A test fails when code under test caught an exception and only logged it."""
    handler = _ExceptionLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)
    assert not handler.records, "exception logged and swallowed: " + "; ".join(
        f"{r.name}: {r.getMessage()}" for r in handler.records)


# -- PostgreSQL ------------------------------------------------------------------------------------
def _admin() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN, autocommit=True)


def _with_db(url: str, name: str) -> str:
    base = url.rsplit("/", 1)[0]
    return f"{base}/{name}"


def prepare_database(url: str, units: list[UnitRow] = TEST_UNITS, timescaledb: str = "auto") -> None:
    """Migrate and load the demo city plus the test devices."""
    registry, problems = load_registry(Settings())
    assert not problems
    with psycopg.connect(url) as conn:
        migrate(conn, timescaledb=timescaledb)
        conn.autocommit = False
        sync(conn, registry.grid, registry.cameras, registry.checkpoints, list(registry.units) + units)
        conn.commit()


def observed(url: str, start: float, end: float, worker: str = "test-import") -> None:
    """Declare that the ingest was receiving over [start, end) (as an import of history does)."""
    with psycopg.connect(url) as conn:
        record_uptime(conn, worker, start, end, source="import")


@pytest.fixture(scope="session")
def template_db() -> str:
    name = f"pingan_tmpl_{os.getpid()}"
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    prepare_database(_with_db(PG_ADMIN, name))
    yield name
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(template_db: str) -> str:
    """A fresh, migrated database with the demo city and test devices, per test."""
    name = f"pingan_t_{os.getpid()}_{next(_counter)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_db(PG_ADMIN, name)
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the TimescaleDB engine ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def timescale() -> TimescaleCluster:
    """A PostgreSQL cluster of the tests' own with TimescaleDB preloaded."""
    cluster = TimescaleCluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def timescale_template(timescale: TimescaleCluster) -> str:
    url = timescale.database("pingan_tmpl")
    prepare_database(url, timescaledb="require")
    return "pingan_tmpl"


@pytest.fixture
def timescale_db(timescale: TimescaleCluster, timescale_template: str) -> str:
    """A fresh database on TimescaleDB with the demo city and test devices, per test."""
    name = f"pingan_ts_{next(_counter)}"
    with psycopg.connect(timescale.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{timescale_template}"')
    yield timescale.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(timescale.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["postgresql", pytest.param("timescaledb", marks=pytest.mark.timescale)])
def store_url(request) -> str:
    """The same test on plain PostgreSQL and on TimescaleDB."""
    return request.getfixturevalue("db_url" if request.param == "postgresql" else "timescale_db")


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, every: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


# -- Redis -----------------------------------------------------------------------------------------
@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# -- broker ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Mosquitto:
    m = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield m
    m.stop()


class Publisher:
    """A device-side MQTT v5 client: QoS 1 publishes, waited for."""

    def __init__(self, url: str, client_id: str = ""):
        addr = BrokerAddress.parse(url)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(addr.host, addr.port)
        self.client.loop_start()
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: Any, qos: int = 1, retain: bool = False, properties=None) -> None:
        data = payload if isinstance(payload, (bytes, bytearray)) else json.dumps(payload).encode()
        self._pending.append(self.client.publish(topic, data, qos=qos, retain=retain, properties=properties))
        if len(self._pending) >= 500:
            self.flush()

    def flush(self, timeout: float = 60.0) -> None:
        for info in self._pending:
            info.wait_for_publish(timeout)
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: Mosquitto):
    p = Publisher(broker.url, f"test-pub-{os.getpid()}-{next(_counter)}")
    yield p
    p.close()


# -- the worker ------------------------------------------------------------------------------------
def make_settings(mqtt_url: str, db_url: str, redis_url: str | None = REDIS_URL, *, group: str | None = None,
                  client_id: str | None = None, receive_maximum: int = 2000, **ingest: Any) -> Settings:
    n = next(_counter)
    # Each test has its own share group: a stopped worker's persistent session stays a member
    # of its group (and gets its share of messages) until the session expires.
    return Settings.model_validate({
        "mqtt": {"url": mqtt_url, "client_id": client_id or f"test-worker-{os.getpid()}-{n}",
                 "share_group": group or f"test-{os.getpid()}-{n}",
                 "receive_maximum": receive_maximum, "session_expiry_s": 120, "reconnect_min_s": 0.2, "reconnect_max_s": 1},
        "database": {"url": db_url, "connect_timeout_s": 2},
        "redis": {"url": redis_url, "retry_s": 0.5},
        "ingest": {"batch_max_wait_s": 0.05, "auto_register": False, "db_retry_max_s": 1.0, **ingest},
    })


class RunningWorker:
    def __init__(self, settings: Settings, redis_conn: redis.Redis | None):
        self.settings = settings
        self.source = MqttSource(settings.mqtt, BrokerAddress.parse(settings.mqtt.url),
                                 max_pending=settings.ingest.max_pending_messages)
        hot = HotState(redis_conn, settings.redis.retry_s) if redis_conn is not None else None
        self.worker = IngestWorker(settings, self.source, lambda: psycopg.connect(
            settings.database.url, connect_timeout=2), hot, registry_refresh_s=1.0)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as e:
            self.error = e

    def start(self) -> "RunningWorker":
        self.thread.start()
        assert self.worker.ready.wait(30), "worker did not load the registry"
        assert self.source.wait_connected(30), "worker did not connect to the broker"
        time.sleep(0.2)  # subscriptions granted
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), "worker did not stop"
        if self.error:
            raise self.error


@pytest.fixture
def start_worker(broker: Mosquitto, db_url: str, redis_client: redis.Redis):
    started: list[RunningWorker] = []

    def start(**ingest: Any) -> RunningWorker:
        w = RunningWorker(make_settings(broker.url, db_url, **ingest), redis_client).start()
        started.append(w)
        return w

    yield start
    for w in started:
        if w.thread.is_alive():
            w.stop()


# -- the browser -----------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("PINGAN_TEST_OUTPUT", Path(__file__).resolve().parent / "output"))  # screenshots


@pytest.fixture
def browser(tmp_path):
    """Debian's Chromium through Playwright (no browser download), headless, on a fresh profile."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (tests/run.sh installs it)")
    with playwright.sync_playwright() as p:  # a fresh profile: a user-data-dir of the test's own
        context = p.chromium.launch_persistent_context(tmp_path / "profile", executable_path=CHROMIUM, headless=True,
                                                       args=FLAGS, viewport={"width": 1600, "height": 900})
        yield context
        context.close()
