"""The alert service: reads the live feed, runs the rules, keeps the lifecycle, stores and
delivers alerts.

- **The feed** is the Redis stream ``pingan:feed``, read through the consumer group
  ``pingan-alerts`` (at least once: an entry is acknowledged after what it caused is committed;
  a restarted service first re-reads what it had taken and not acknowledged). Rules are
  idempotent: an entry read twice changes nothing.
- **Redis is not the truth.** On start, and whenever the feed may have missed something (Redis
  was unreachable, or lost its data and with it the stream), the service rebuilds its state by
  replaying the records of the current period from the database.
- **Time** is event time: the newest record time seen (the watermark). Absence — a camera or
  unit gone silent, a cell not revisited — is swept for every ``sweep_every_s`` on that clock,
  so a replayed history raises the same alerts as the live day did. Only ``ingest_stalled``
  is judged on the wall clock.
- **The period** whose coverage gaps are judged is the city's day (or a scenario's period):
  the revisit clock starts with it, as in the assessment.

The rules and their state are ``alerts.evaluation``'s; storing, muting and delivering what the
lifecycle changed, ``alerts.delivery``'s. This module reads the feed, keeps event time, sweeps,
and rebuilds from the database what the feed may have missed.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import msgspec
import numpy as np
import psycopg
import redis

from assessment.defence import TARGET, Assessor, CoverageError
from assessment.periods import city_days
from assessment.standards import City, Standards
from assessment.uptime import SETTLE_S
from geofence.grid import Level
from geofence.spans import complement
from store import alerts as alert_store
from store import close_quietly
from store.queries import read_observed, read_records
from store.records import CELL_VISITS, FEED_STREAM, FeedBatch
from store.registry import load_version, versions_between

from .delivery import Counts, Delivery, alert
from .evaluation import Diagnose, Evaluation
from .lifecycle import Change, Lifecycle, Silence
from .mute import Muter
from .notify import Dispatcher
from .rules import Condition, blind, feed, indicator
from .settings import AlertSettings

log = logging.getLogger(__name__)

GROUP = "pingan-alerts"
RECENT_S = 900.0  # devices heard within this (wall clock) set the watermark
REPLAY_STEP_S = 10.0  # a replay from the database is swept every this much event time
LIVE_S = 20.0  # the feed is live when the devices' median latest record is this close to the wall clock


@dataclass
class ServiceStats(Counts):
    entries: int = 0
    records: int = 0
    reconciled: int = 0
    watermark: float = -math.inf


class AlertService:
    def __init__(self, settings: AlertSettings, std: Standards, connect: Callable[[], psycopg.Connection],
                 client: redis.Redis, dispatcher: Dispatcher, *, consumer: str = "alerts-1",
                 period: tuple[float, float] | None = None, wall: Callable[[], float] = time.time,
                 diagnose: Diagnose | None = None, team_minimum: int = 10):
        self.settings = settings
        self.team_minimum = team_minimum  # active members a township team needs per shift (coverage.team_minimum)
        self.std = std
        self.connect = connect
        self.client = client
        self.dispatcher = dispatcher
        self.consumer = consumer
        self.fixed_period = period
        self.wall = wall
        self.diagnose = diagnose
        self.stats = ServiceStats()
        self.deliver = Delivery(self._connection, dispatcher, self.stats)
        self.lifecycle = Lifecycle(settings)
        self.silences: list[Silence] = []  # the maintenance windows not long ended (``alerts.mute``)
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread: threading.Thread | None = None
        self._rules: Evaluation | None = None  # for the registry version in force
        self._muter = Muter()
        self._feed = feed.FeedState()
        self._period: tuple[float, float] | None = None
        self._next_sweep = 0.0
        self._next_sync = 0.0
        self._closed_period: tuple[float, float] | None = None
        self._said_visits: dict[str, float] = {}  # cell → the visit last published to Redis
        self._latest: dict[str, tuple[float, float]] = {}  # device → its latest record time, and when heard
        self._next_patrol = -math.inf  # event time of the next coverage and staffing judgement
        self._indicated_through = -math.inf  # the coverage indicator has been judged over the days up to this
        self._next_look = (-math.inf, -math.inf)  # the day looked for, and (monotonic) when to look for it again
        self._indicator: threading.Thread | None = None  # the coverage indicator being judged
        self._indicated: list[Condition] = []  # … and what it found, for the next sweep
        self._indicated_lock = threading.Lock()
        self._seen: list[tuple[float, float]] = []  # what the ingest received (``_observe``)
        self._swept_at = -math.inf  # event time of the last sweep
        self._references_at: float | None = None  # the newest reference view loaded
        self._finish_at: float | None = None
        self.failure: BaseException | None = None

    # -- running ----------------------------------------------------------------------------
    def start(self) -> "AlertService":
        self._thread = threading.Thread(target=self._run_guarded, name="alerts", daemon=True)
        self._thread.start()
        return self

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as e:  # reported by the caller after the other parts are stopped
            self.failure = e
            log.exception("the alert service stopped")
        finally:
            self._close()

    def _close(self) -> None:
        close_quietly(self._conn)
        self._conn = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30) -> None:
        """Stop, and wait (up to timeout) for the feed's thread and an indicator judgement under way."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in (self._thread, self._indicator):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def run(self) -> None:
        self._retry(self._setup)
        self.ready.set()
        pending = True  # first re-read what this consumer took and did not acknowledge
        while True:
            stopping = self.stopping.is_set()  # when stopping: read what is there, then end
            try:
                got = self.client.xreadgroup(GROUP, self.consumer, {FEED_STREAM: "0" if pending else ">"},
                                             count=50, block=None if pending or stopping else int(self._block_ms()))
            except redis.ResponseError as e:
                if "NOGROUP" not in str(e) and "no longer exists" not in str(e):
                    raise
                log.warning("the live feed's consumer group is gone (Redis lost its data): reconciling from the "
                            "database")
                self._retry(self._resync)
                continue
            except redis.RedisError as e:
                if stopping:
                    break
                log.warning("Redis unavailable to the alert service: %s; retrying, then reconciling", e)
                self.stopping.wait(1.0)
                self._retry(self._resync, quiet=True)
                continue
            entries = got[0][1] if got else []
            if entries:
                self._retry(functools.partial(self._take, entries))
            elif pending:
                pending = False
            elif stopping:
                break
            self._retry(self._housekeeping)
        self._retry(self._final)

    def _block_ms(self) -> float:
        """How long to wait for the feed: until the next sweep, or the next hold or clear that runs
        out, whichever comes first (event time is the wall clock while the feed is live)."""
        wait = self._next_sweep - time.monotonic()
        if self._live():
            wait = min(wait, self.lifecycle.next_due() - self.wall())
        return max(10.0, min(1000.0, wait * 1000))

    def _live(self) -> bool:
        """Event time is the wall clock (a replayed history moves only with its records)."""
        return self.stats.watermark >= self.wall() - LIVE_S

    def finish(self, until: float | None = None) -> None:
        """For a replayed period: sweep once more at its end (closing it), then stop."""
        self._finish_at = until
        self.stop()

    # -- setup and reconciliation ---------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def _retry(self, op: Callable[[], Any], quiet: bool = False) -> Any:
        delay = 0.25
        while True:
            try:
                return op()
            except (psycopg.OperationalError, psycopg.InterfaceError, redis.ConnectionError,
                    redis.TimeoutError) as e:
                if not quiet:
                    log.warning("alert service waiting for %s: %s", type(e).__module__.split(".")[0], e)
                quiet = True
                self._close()
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, 5.0)

    def _setup(self) -> None:
        conn = self._connection()
        self._rules = self._load_rules(conn)
        self._muter = Muter({cam: cell for cell, cams in self._rules.key_cameras.items() for cam in cams},
                            self.settings.ingest_stall_s)
        self._ensure_group()
        self.lifecycle.load(alert(r) for r in alert_store.unresolved(conn))
        self.lifecycle.load_resolved(alert(r) for r in alert_store.find(
            conn, state="resolved", since=self._period_of(self.wall())[0] - 86_400, limit=1_000_000))
        self._load_silences(conn)
        self._references_at = None
        self._load_references(conn)
        conn.commit()
        self._reconcile(conn, None)

    def _resync(self) -> None:
        """After Redis lost data or was away: make sure the group exists, then replay from the
        database what the feed may have missed."""
        self._ensure_group()
        since = self.stats.watermark - max(self.settings.lateness_s, self.std.patrol.max_gap_s) - 60
        self._reconcile(self._connection(), since if math.isfinite(since) else None)

    def _ensure_group(self) -> None:
        """The live feed's consumer group, created from now on when missing (what came before is
        read from the database)."""
        try:
            self.client.xgroup_create(FEED_STREAM, GROUP, id="$", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _reconcile(self, conn: psycopg.Connection, since: float | None) -> None:
        now = self.wall()
        start = self._period_of(now)[0] if since is None else since
        batch = read_records(conn, start - 3600 if since is None else start, now + 86_400)
        self.stats.reconciled += len(batch)
        log.info("alert state rebuilt from the database: %d records since %s", len(batch),
                 time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)))
        self._replay(batch)

    def _replay(self, batch: FeedBatch) -> None:
        """Records from the database, in time order, a step of event time at a time, each step
        swept as the live service would have: what happened while nobody was watching raises the
        alerts it would have raised live."""
        records = batch.in_time_order()
        limit = self.wall() + 600
        i = 0
        while i < len(records):
            step_end = (records[i].ts // REPLAY_STEP_S + 1) * REPLAY_STEP_S
            j = i
            while j < len(records) and records[j].ts < step_end:
                j += 1
            conds = self._records(records[i:j])
            i = j
            now = min(step_end, limit)
            self.stats.watermark = max(self.stats.watermark, now if i < len(records) else records[-1].ts)
            self._changes(self.lifecycle.apply(conds, now))
            if i < len(records):
                self.sweep(now)
        self._advance()

    def _load_rules(self, conn: psycopg.Connection) -> Evaluation:
        """The rules for the registry version in force."""
        versions = versions_between(conn, self.wall(), self.wall() + 1)
        if not versions:
            raise RuntimeError("no registry version: run `pingan migrate` with a grid first")
        version = versions[-1][0]
        doc = load_version(conn, version)
        teams = {u["id"]: u["team"] for u in doc["units"] if u.get("team")}
        return Evaluation(self.settings, self.std, City.of(version, doc), teams, team_minimum=self.team_minimum,
                          diagnose=self.diagnose, save_reference=self._save_reference)

    def _save_reference(self, camera_id: str, light: str, image: bytes, taken_at: float) -> None:
        conn = self._connection()
        alert_store.save_reference(conn, camera_id, light, image, taken_at, "pingan-alerts")
        conn.commit()

    def _load_references(self, conn: psycopg.Connection) -> None:
        """Cameras' reference views stored since the last look (a maintainer accepted a new one)."""
        for r in alert_store.references(conn, self._references_at):
            self._rules.state.reference_image.setdefault(r["camera_id"], {})[r["light"]] = bytes(r["image"])
            self._references_at = r["accepted_at"]

    def _load_silences(self, conn: psycopg.Connection) -> None:
        self.silences = [Silence(s["silence_id"], s["kind"], s["target"], s["starts"], s["ends"], s["who"],
                                           s["why"]) for s in alert_store.silences(conn, self.wall() - 86_400)]

    # -- records ----------------------------------------------------------------------------------
    def _take(self, entries: list) -> None:
        decoder = msgspec.msgpack.Decoder(FeedBatch)
        ids = []
        for entry_id, fields in entries:
            ids.append(entry_id)
            raw = fields.get(b"b") or fields.get("b")
            try:
                batch = decoder.decode(raw)
            except (msgspec.DecodeError, TypeError) as e:
                log.error("feed entry %s not readable, skipped: %s", entry_id, e)
                continue
            self.stats.entries += 1
            self._feed.lag_s = max(0.0, self.wall() - batch.committed)
            self._apply_batch(batch)
        self._feed.last_arrival = self.wall()
        self._feed.expecting = True
        self.client.xack(FEED_STREAM, GROUP, *ids)

    def _apply_batch(self, batch: FeedBatch) -> None:
        conds = self._records(batch.in_time_order())
        self._advance()
        self._changes(self.lifecycle.apply(conds, self.stats.watermark))
        if not self._live() and self.stats.watermark >= self._swept_at + REPLAY_STEP_S:
            self.sweep(self.stats.watermark)  # a history replayed fast: absence swept per step of event time

    def _records(self, records: list) -> list[Condition]:
        """Records through their rules, in time order; each device's latest time noted for the watermark
        (a time more than 10 minutes ahead of the clock is not believed)."""
        conds: list[Condition] = []
        heard = self.wall()
        for r in records:
            self.stats.records += 1
            conds += self._rules.record(r)
            if r.ts <= heard + 600 and r.ts > self._latest.get(r.device, (-math.inf, 0.0))[0]:
                self._latest[r.device] = (r.ts, heard)
        return conds

    def _advance(self) -> None:
        """The watermark, from the latest record time of each device heard lately (within RECENT_S
        of the wall clock): their median, or the wall clock while that median is within LIVE_S of
        it (the feed is live). One device with a fast clock, or a burst of shuffled fixes, does not
        move it; a few silent devices do not hold it back. (In a replay where most devices report
        seldom, it moves in their steps.)"""
        wall = self.wall()
        recent = np.array([ts for ts, heard in self._latest.values() if heard >= wall - RECENT_S])
        if not len(recent):
            return
        median = float(np.median(recent))
        self.stats.watermark = max(self.stats.watermark, wall if median >= wall - LIVE_S else median)

    # -- sweeps ------------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        mono = time.monotonic()
        if mono >= self._next_sync:
            self._next_sync = mono + 5.0
            self._sync_operators()
        if mono >= self._next_sweep:
            self._next_sweep = mono + self.settings.sweep_every_s
            self.sweep()
        elif self._live() and self.lifecycle.next_due() <= self.wall():  # a hold or clear runs out between sweeps
            self._advance()
            self._changes(self.lifecycle.tick(self.stats.watermark))
        self.dispatcher.flush()

    def sweep(self, now: float | None = None, closing: bool = False) -> None:
        """Absence and the periodic rules at event time `now` (default: the watermark)."""
        if now is None:
            self._advance()
            now = self.stats.watermark
        self._swept_at = now
        conds: list[Condition] = []
        if math.isfinite(now) and self._rules is not None:
            self._observe(now)
            conds += self._rules.absence(now, self._missed())
            conds += self._patrol(now, closing)
            self._publish_visits()
            conds += self._indicators(now, closing)
        changes = self.lifecycle.apply(conds, now)
        wall = self.wall()  # the ingest is judged on the wall clock: while it is stalled, event time stands still
        changes += self.lifecycle.apply(feed.on_tick(self._feed, wall, self.settings.ingest_stall_s,
                                                     self.settings.ingest_lag_s), wall)
        changes += self.lifecycle.tick(now)
        if self._rules is not None and math.isfinite(now):  # from what is open now: gaps and blind cameras together
            changes += self.lifecycle.apply(blind.blind_spots(self.lifecycle.open, self._rules.key_cameras, now,
                                                              self._rules.patrol_params.cell_scope), now)
        self._changes(changes)

    def _period_of(self, t: float) -> tuple[float, float]:
        if self.fixed_period is not None:
            return self.fixed_period
        _, a, b = next(city_days(t, t + 1, self.std.timezone))
        return a, b

    def _patrol(self, now: float, closing: bool) -> list[Condition]:
        if self._rules is None or (not closing and now < self._next_patrol):
            return []
        self._next_patrol = now + self.settings.coverage_every_s
        at = now if closing else now - self.settings.lateness_s
        start, end = self._period_of(at)
        out: list[Condition] = []
        if self._period is not None and self._period != (start, end) and self._closed_period != self._period:
            # the day changed: judge the closing day at its end first, then start the new one
            out += self._evaluate(self._period[0], self._period[1], closed=True)
            self._closed_period = self._period
            self._rules.period_starts(start)
        self._period = (start, end)
        if closing or at >= end:
            if self._closed_period != (start, end):
                out += self._evaluate(start, min(end, max(at, start)), closed=True)
                self._closed_period = (start, end)
            return out
        return out + self._evaluate(start, at, closed=False)

    def _publish_visits(self) -> None:
        """Each cell's latest qualifying visit (the coverage rule's, dwell included) into Redis for
        the API's live cell states (``CELL_VISITS``): the cells whose visit is newer than said."""
        visits = self._rules.visits
        fresh = {c: t for c, t in visits.items() if self._said_visits.get(c) != t}
        if not fresh:
            return
        try:
            had, _ = (self.client.pipeline(transaction=False).exists(CELL_VISITS)
                      .hset(CELL_VISITS, mapping={c: repr(t) for c, t in fresh.items()}).execute())
            if not had and len(fresh) < len(visits):  # Redis lost them (flushed, restarted): all again
                self.client.hset(CELL_VISITS, mapping={c: repr(t) for c, t in visits.items()})
            self._said_visits = dict(visits)
        except redis.RedisError as e:  # the API shows the latest fixes meanwhile; said again next time
            log.warning("cell visits not published: %s", e)

    def _indicators(self, now: float, closing: bool) -> list[Condition]:
        """Each street's and district's defence-system coverage over the last ``indicator_days``
        closed city days, once each day closes: read from the days the sweeper stores (looked for
        once a minute from when it could have stored it), or, when none has after
        ``indicator_wait_s``, assessed here and stored — on a thread of its own, so that the loop
        that delivers alerts goes on meanwhile and takes what it found at a later sweep. A replayed
        period is judged once, whole, at its end, there and then."""
        with self._indicated_lock:
            ready, self._indicated = self._indicated, []
        at = now if closing else now - self.settings.lateness_s
        if self._rules is None or (self.fixed_period is not None and not closing):
            return ready
        if self.fixed_period is not None:
            if self._indicated_through >= self.fixed_period[1]:
                return ready
            self._indicated_through = self.fixed_period[1]
            return ready + (self._judge_indicator(self._connection(), self.fixed_period[0],
                                                  min(at, self.fixed_period[1])) or [])
        day = self._period_of(at)[0]  # the days before this one have closed
        if (day <= self._indicated_through or at < day + SETTLE_S or self._next_look > (day, time.monotonic())
                or (self._indicator is not None and self._indicator.is_alive())):
            return ready
        self._next_look = (day, time.monotonic() + 60)  # (a new day is looked for at once)
        start, end = day - 86_400 * self.settings.indicator_days, day
        stored_only = at < day + self.settings.indicator_wait_s

        def judge() -> None:
            t0 = time.monotonic()
            try:
                with self.connect() as conn:
                    found = self._judge_indicator(conn, start, end, stored_only)
                if found is None:  # (not stored yet, or said why)
                    return
            except (psycopg.Error, redis.RedisError) as e:
                log.warning("coverage indicator not judged (looked for again in a minute): %s", e)
                return
            log.info("coverage indicator judged in %.1f s (%d areas)", time.monotonic() - t0, len(found))
            with self._indicated_lock:
                self._indicated += found
                self._indicated_through = max(self._indicated_through, end)

        self._indicator = threading.Thread(target=judge, name="alerts-indicator", daemon=True)
        self._indicator.start()
        return ready

    def _judge_indicator(self, conn: psycopg.Connection, start: float, end: float,
                         stored_only: bool = False) -> list[Condition] | None:
        """The indicator's conditions over [start, end), from the stored days; where they are not
        all stored, None (stored_only) or assessed from the raw rows. None also when it cannot be
        assessed (said why)."""
        try:  # (a window reaching back before the first grid starts with it)
            start = max([start, *(f for _, f, _ in versions_between(conn, start, end)[:1])])
            assessor = Assessor(conn, self.std, store=True, clock=self.wall)
            result = assessor.period(start, end, stored_only=True)
            if result is None and stored_only:
                return None
            if result is None:  # not stored (by then): assessed here, and stored
                result = assessor.period(start, end)
            areas = [a for level in (Level.STREET, Level.DISTRICT) for a in assessor.areas(result, level)]
        except CoverageError as e:
            log.info("coverage indicator not judged: %s", e)
            if not stored_only:
                with self._indicated_lock:  # nothing to assess there: not looked for again
                    self._indicated_through = max(self._indicated_through, end)
            return None
        finally:
            conn.rollback()
        return indicator.judge(areas, TARGET, start, end, {a.area_id: self._rules.areas(a.area_id) for a in areas})

    def _evaluate(self, start: float, at: float, closed: bool) -> list[Condition]:
        return self._rules.judge(start, at, closed, self._unobserved(start, at), self._missed())

    # -- what the ingest received: time outside it is unknown to every rule ----------------------
    def _observe(self, now: float) -> None:
        """The stretches up to `now` in which an ingest worker was receiving or an import was
        declared received (``pingan.ingest_uptime``), from the day before the period on."""
        start = self._period_of(now)[0] - 86_400
        self._seen = read_observed(self._connection(), start, now + 1)

    def _missed(self) -> tuple[float, float]:
        """The latest stretch nobody was receiving that has ended (a start: all before the first
        run). The stretch after the newest run is not one: a worker records its run every
        ``ingest.heartbeat_s``, and while none receives, no record comes to move event time on."""
        seen = self._seen
        if not seen:
            return (-math.inf, math.inf)
        return (seen[-2][1] if len(seen) > 1 else -math.inf, seen[-1][0])

    def _unobserved(self, start: float, end: float) -> list[tuple[float, float]]:
        """The stretches of [start, end) nobody was receiving: unknown to every rule, as in the
        assessment (a start, an outage)."""
        return complement([(max(a, start), min(b, end)) for a, b in self._seen if b > start and a < end], start, end)

    def _final(self) -> None:
        """On stop: a replayed period is swept once more at its end and closed."""
        if self._finish_at is not None:
            self.sweep(self._finish_at, closing=True)
        self.dispatcher.flush(force=True)

    # -- operators -----------------------------------------------------------------------------
    def _sync_operators(self) -> None:
        """What operators did meanwhile (acknowledged, resolved by hand, silenced)."""
        conn = self._connection()
        rows = {(r["type"], r["subject"]): alert(r) for r in alert_store.unresolved(conn)}
        self._load_silences(conn)
        self._load_references(conn)
        conn.commit()
        for key, a in list(self.lifecycle.open.items()):
            stored = rows.get((str(key[0]), key[1]))
            if stored is None or stored.alert_id != a.alert_id:
                self.lifecycle.forget(key)  # resolved by hand
            elif stored.state is not a.state:
                self.lifecycle.update(replace(a, state=stored.state, acknowledged_at=stored.acknowledged_at,
                                              acknowledged_by=stored.acknowledged_by))

    # -- storing and delivering --------------------------------------------------------------------
    def _changes(self, changes: list[Change]) -> None:
        self.deliver(changes, self.lifecycle.open, self._muter, self.silences, self.wall())
