"""The ingest worker: MQTT in, batches committed to the store, hot state updated, then acks.

decode ▶ validate & filter ▶ tag cell ▶ batch ▶ store (COPY, idempotent) ▶ hot state ▶ ack.
A message is acknowledged only after its rows (or its dead letter) are committed. While the
database is down nothing is acked, Receive Maximum and ``ingest.max_pending_messages`` bound
what is held in memory, and the batch is retried with back-off until the database is back.

Every ``ingest.heartbeat_s`` the worker records that it is receiving (connected, subscriptions
granted) in ``pingan.ingest_uptime``: time no worker was receiving is assessed as unknown. A
run that resumes a persistent session the broker kept starts where the worker's previous run
ended: the broker held what devices sent meanwhile.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import msgspec
import psycopg

from geofence.grid import Grid
from geofence.lookup import CellIndex
from store import close_quietly
from store import registry as registry_store
from store.records import (
    CameraHealth,
    CameraSnapshot,
    Checkin,
    DeadLetter,
    DeviceStatus,
    FeedBatch,
    PatrolFix,
    Registration,
    RejectReason,
    Transition,
)
from store.results import last_until, mark_late, record_uptime
from store.writer import Batch, BatchWriter, WriteResult, counter_names

from . import metrics
from .directory import DeviceDirectory
from .hotstate import HotState
from .mqtt import Inbound, MqttSource
from .pipeline import Pending, Pipeline, build_pipeline, clean
from .settings import WorkerSettings

log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    messages: int = 0
    batches: int = 0
    first_received: float = 0.0  # when the first message arrived (epoch seconds)
    stored: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)


class IngestWorker:
    def __init__(self, settings: WorkerSettings, source: MqttSource, connect: Callable[[], psycopg.Connection],
                 hot: HotState | None, *, registry_refresh_s: float = 30.0):
        self.settings = settings
        self.source = source
        self.connect = connect
        self.hot = hot
        self.registry_refresh_s = registry_refresh_s
        self.stats = WorkerStats()
        self._conn: psycopg.Connection | None = None
        self._writer: BatchWriter | None = None
        self._registrations: list[Registration] = []
        self._pending = Pending()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        # filled by _load()
        self.directory: DeviceDirectory | None = None
        self.index: CellIndex | None = None
        self.pipeline: Pipeline | None = None
        self.uptime = _Uptime(settings.mqtt.client_id)
        self.held = 0  # messages taken from the inbox and not yet acknowledged (or released)
        self._next_beat = 0.0
        self._next_redis_check = 0.0

    # -- setup ---------------------------------------------------------------------------------
    def _load(self) -> bool:
        conn = self._connection()
        self.directory = DeviceDirectory(registry_store.load_snapshot(conn))
        grid: Grid | None = registry_store.load_grid(conn)
        self.index = CellIndex(grid.leaves) if grid else None
        self.pipeline = build_pipeline(self.settings.ingest, self.directory, self._registrations.append)
        self._next_refresh = time.monotonic() + self.registry_refresh_s
        self.uptime.last_until = last_until(conn, self.settings.mqtt.client_id)
        conn.commit()
        log.info("ingest worker ready: %d grid cells, auto-register %s",
                 len(self.index) if self.index else 0, self.settings.ingest.auto_register)
        return True

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            self._writer = BatchWriter(self._conn, self.settings.ingest.snapshot_dir)
            metrics.DB_UP.set(1)
        return self._conn

    def _drop_connection(self) -> None:
        close_quietly(self._conn)
        self._conn = None
        self._writer = None

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> WorkerStats:
        """Consume until stop() is called (or the broker refuses us for good)."""
        if self._retry_db(self._load) is None:
            return self.stats
        self.source.start()
        self.ready.set()
        s = self.settings.ingest
        batch = Batch()
        acks: list[tuple[int, int]] = []
        oldest: float | None = None
        inbox = self.source.inbox
        try:
            while True:
                if self.source.fatal:
                    raise self.source.fatal
                stopping = self.stopping.is_set()
                # When stopping, take only what has already arrived; later messages stay unacked
                # with the broker, which redelivers them to this session or another worker.
                budget = inbox.qsize() if stopping else s.batch_max_rows
                wait = s.batch_max_wait_s if oldest is None else oldest + s.batch_max_wait_s - time.time()
                item = self._next(inbox, 0 if stopping else max(wait, 0.001))
                while item is not None:
                    self._take(item, batch)
                    acks.append((item.generation, item.mid))
                    self.held = len(acks)
                    if oldest is None:
                        oldest = item.message.received
                    budget -= 1
                    if len(self._pending) + len(batch) >= s.batch_max_rows or budget <= 0:
                        break
                    item = self._next(inbox, 0)
                metrics.PENDING.set(len(acks) + inbox.qsize())
                if oldest is not None and (stopping or len(self._pending) + len(batch) >= s.batch_max_rows
                                           or time.time() >= oldest + s.batch_max_wait_s):
                    if not self._flush(batch, acks, oldest):
                        break  # stopping while the database is down: nothing acked, the broker keeps it
                    batch, acks, oldest = Batch(), [], None
                    self.held = 0
                if stopping and oldest is None:
                    self._next_beat = 0.0
                    self._beat()  # the run ends now, not at its last heartbeat
                    break
                self._housekeeping()
        finally:
            self.source.stop()
            self._drop_connection()
        return self.stats

    @staticmethod
    def _next(inbox: queue.SimpleQueue, timeout: float) -> Inbound | None:
        try:
            return inbox.get(timeout=timeout) if timeout > 0 else inbox.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        self.stopping.set()

    def _take(self, item: Inbound, batch: Batch) -> None:
        msg = item.message
        if not self.stats.messages:
            self.stats.first_received = msg.received
        self.stats.messages += 1
        try:
            dead = self.pipeline.decode(msg, self._pending)
        except Exception as e:  # a bug must not stop the worker nor lose the message
            log.exception("decoding failed on %s", msg.topic, extra={"topic": msg.topic})
            dead = self.pipeline.failed(msg, e)
        if dead is not None:
            batch.dead.append(dead)

    def _filter(self, batch: Batch) -> None:
        """Run the filter stages over the batch's decoded records and sort them into tables."""
        pending, self._pending = self._pending, Pending()
        try:
            out = self.pipeline.filter(pending)
        except Exception as e:  # a bug: keep every message of the batch as a dead letter
            log.exception("filtering failed on a batch of %d records", len(pending))
            seen: set[int] = set()
            for m in pending.messages:
                if id(m) not in seen:
                    seen.add(id(m))
                    batch.dead.append(self.pipeline.failed(m, e))
            return
        for r, m in zip(out.records, out.messages, strict=True):
            t = type(r)
            if t is PatrolFix:
                batch.fixes.append((r, m.received))
            elif t is CameraHealth:
                batch.health.append((r, m.received))
            elif t is CameraSnapshot:
                batch.snapshots.append((r, m.received))
            elif t is DeviceStatus:
                batch.statuses.append(r)
            elif t is Checkin:
                batch.checkins.append((r, m.received))
            elif t is Transition:
                batch.transitions.append((r, m.received))
                cp = self.directory.checkpoint_of_region(r.region)
                if cp is not None:  # a region named after a checkpoint: a check-in
                    batch.checkins.append((Checkin(cp, r.ts, r.unit_id, "on" if r.event == "enter" else "off", "gps"),
                                           m.received))
        batch.dead.extend(out.rejects)
        if self._registrations:
            batch.registrations.extend(self._registrations)
            self._registrations.clear()

    def _tag_cells(self, batch: Batch) -> None:
        if self.index is None or not batch.fixes:
            return
        cells = self.index.lookup([f.lon for f, _ in batch.fixes], [f.lat for f, _ in batch.fixes])
        batch.fixes = [(msgspec.structs.replace(f, cell_id=c), r) for (f, r), c in zip(batch.fixes, cells, strict=True)]

    def _flush(self, batch: Batch, acks: list[tuple[int, int]], oldest: float) -> bool:
        self._filter(batch)
        self._tag_cells(batch)
        self.uptime.observe(self.source, time.time())
        if self.uptime.unwritten:  # a new run is on record before anything it received is on the feed
            self._next_beat = 0.0
            self._beat()
        t0 = time.perf_counter()
        result = self._retry_db(lambda: self._write(batch, len(acks)))
        if result is None:
            return False
        elapsed = time.perf_counter() - t0
        metrics.COMMIT_SECONDS.observe(elapsed)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.MESSAGES_RECEIVED.inc(len(acks))
        for table, n in result.inserted.items():
            metrics.ROWS_STORED.labels(table).inc(n)
            self.stats.stored[table] += n
        rejected = result.rejected  # a redelivered message's reject is not counted twice
        for reason, n in rejected.items():
            metrics.REJECTED.labels(reason).inc(n)
        self.stats.rejected.update(rejected)
        self.stats.batches += 1
        if self.hot is not None:
            counters = counter_names(len(acks), result.inserted, rejected)
            feed = FeedBatch(time.time(), self.settings.mqtt.client_id, [f for f, _ in batch.fixes],
                             [h for h, _ in batch.health], list(batch.statuses), [c for c, _ in batch.checkins],
                             [s for s, _ in batch.snapshots])
            ok = self.hot.apply(feed, counters)
            metrics.REDIS_UP.set(1 if ok else 0)
        self.source.ack(acks)
        metrics.CONSUMER_LAG.set(time.time() - oldest)
        return True

    def _write(self, batch: Batch, received: int = 0) -> WriteResult:
        self._connection()
        try:
            return self._writer.write(batch, self.settings.mqtt.client_id, received)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as e:
            # The database refused some row itself: find it by bisection, dead-letter it, keep the rest.
            log.warning("batch refused by the database (%s); writing it in parts", e)
            result = self._write_parts(batch)
            self._writer.add_counts(self.settings.mqtt.client_id,
                                    counter_names(received, result.inserted, result.rejected))
            return result

    def _write_parts(self, batch: Batch) -> WriteResult:
        """Halve the batch until the rows the database refuses stand alone: about 2·log2(n)
        transactions for each refused row, the rest written in the halves that succeed."""
        inserted: Counter = Counter()
        rejected: Counter = Counter()
        refused: list[DeadLetter] = []

        def attempt(items: list[Batch]) -> None:
            if not items:
                return
            part = _merge(items)
            try:
                r = self._writer.write(part)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except psycopg.Error as e:
                if len(items) == 1:
                    dead = _as_dead_letter(part, str(e).strip())
                    log.warning("row refused by the database (device %s): %s", dead.device, dead.detail,
                                extra={"device": dead.device, "reason": "store_error"})
                    refused.append(dead)
                    return
                attempt(items[:len(items) // 2])
                attempt(items[len(items) // 2:])
                return
            inserted.update(r.inserted)
            rejected.update(r.rejected)

        items = list(_singletons(batch))  # the whole was refused already: start with its halves
        attempt(items[:len(items) // 2])
        attempt(items[len(items) // 2:])
        if refused:
            r = self._writer.write(Batch(dead=refused))
            inserted.update(r.inserted)
            rejected.update(r.rejected)
            batch.dead.extend(refused)
        return WriteResult(dict(inserted), rejected)

    def _retry_db(self, op: Callable):
        """Run op until the database answers; None if asked to stop meanwhile. The outage is
        logged when it begins, every 30 s while it lasts, and when it ends."""
        delay = 0.25
        since = None
        said = 0.0
        while True:
            try:
                result = op()
                if since is not None:
                    log.warning("database back after %.0f s; the held batch is written", time.monotonic() - since)
                return result
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                metrics.DB_UP.set(0)
                self._drop_connection()
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                if self.stopping.is_set():
                    log.error("stopping while the database is unavailable; unacknowledged messages stay "
                              "with the broker: %s", first)
                    return None
                now = time.monotonic()
                since = since or now
                if now - said >= 30:
                    said = now
                    log.warning("database unavailable for %.0f s, holding the batch (nothing is acknowledged) and "
                                "retrying every %.1f s or less: %s", now - since, self.settings.ingest.db_retry_max_s,
                                first)
                self.stopping.wait(delay)
                delay = min(delay * 2, self.settings.ingest.db_retry_max_s)

    def _beat(self) -> None:
        """Record that this worker is receiving (or that its run has ended)."""
        now = time.time()
        if now < self._next_beat:
            return
        self.uptime.observe(self.source, now)
        if self.uptime.since is None:
            self._next_beat = now + 0.2  # not receiving: look again soon, to record a new run at once
            return
        self._next_beat = now + self.settings.ingest.heartbeat_s
        try:
            conn = self._connection()
            record_uptime(conn, self.uptime.worker, self.uptime.since, now, bridged=self.uptime.bridged,
                          messages=self.stats.messages)
            if self.uptime.gap is not None:
                mark_late(conn, *self.uptime.gap)  # results computed while it looked unobserved
            conn.commit()
            self.uptime.written(now)
        except psycopg.Error as e:
            log.warning("ingest uptime not recorded (kept for the next heartbeat): %s", e)
            self._drop_connection()

    def _housekeeping(self) -> None:
        self._beat()
        now = time.monotonic()
        if self.hot is not None and self.hot.available and now >= self._next_redis_check:
            self._next_redis_check = now + self.hot.retry_s
            self.hot.check()
        if self.hot is not None and not self.hot.available and self._conn is not None:
            try:
                if self.hot.recover(self._conn):
                    metrics.REDIS_UP.set(1)
            except psycopg.Error as e:
                log.warning("hot state rebuild postponed: %s", e)
                self._drop_connection()
        if now >= self._next_refresh and self._conn is not None:
            self._next_refresh = now + self.registry_refresh_s
            try:
                self.directory.replace(registry_store.load_snapshot(self._conn))
            except psycopg.Error as e:
                log.warning("registry refresh postponed: %s", e)
                self._drop_connection()


@dataclass
class _Uptime:
    """The current run of receiving: since when, and whether it resumed a kept session."""

    worker: str
    last_until: float | None = None  # the end of the last recorded run of this worker
    since: float | None = None
    generation: int = -1
    bridged: bool = False
    gap: tuple[float, float] | None = None  # a bridged gap not yet marked for recomputation

    def observe(self, source, now: float) -> None:
        if not source.receiving:
            self.since = None
            return
        if self.since is not None and source.generation == self.generation:
            return
        # a new connection: resume the previous run when the broker kept the session
        self.generation = source.generation
        self.bridged = bool(source.session_present and self.last_until is not None)
        self.since = self.last_until if self.bridged else min(source.connected_at, now)
        if self.bridged and source.connected_at > self.last_until:
            self.gap = (self.last_until, source.connected_at)

    @property
    def unwritten(self) -> bool:
        """A run after a gap that is not yet recorded."""
        return self.since is not None and (self.last_until is None or self.last_until < self.since)

    def written(self, until: float) -> None:
        self.last_until = until
        self.gap = None


def _merge(parts: list[Batch]) -> Batch:
    out = Batch()
    for part in parts:
        for name in ("fixes", "health", "snapshots", "statuses", "checkins", "transitions", "dead", "registrations"):
            getattr(out, name).extend(getattr(part, name))
    return out


def _singletons(batch: Batch):
    if batch.registrations:
        yield Batch(registrations=batch.registrations)
    for f in batch.fixes:
        yield Batch(fixes=[f])
    for h in batch.health:
        yield Batch(health=[h])
    for s in batch.snapshots:
        yield Batch(snapshots=[s])
    for s in batch.statuses:
        yield Batch(statuses=[s])
    for c in batch.checkins:
        yield Batch(checkins=[c])
    for t in batch.transitions:
        yield Batch(transitions=[t])
    for d in batch.dead:
        yield Batch(dead=[d])


def _as_dead_letter(part: Batch, error: str) -> DeadLetter:
    for rows in (part.fixes, part.health, part.snapshots, part.checkins, part.transitions):
        if rows:
            record, received = rows[0]
            break
    else:
        record = (part.statuses or part.dead or part.registrations)[0]
        received = time.time()
    payload = msgspec.json.encode(msgspec.structs.replace(record, image=b"") if isinstance(record, CameraSnapshot)
                                  else record)
    device = getattr(record, "device", None)
    return DeadLetter(received, f"(store) {type(record).__name__}", RejectReason.STORE_ERROR, clean(error)[:1000],
                      clean(device) if device else None, payload[:2048], len(payload))
