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
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import psycopg
import redis

from assessment.defence import TARGET, Assessor, CoverageError
from assessment.periods import city_days
from assessment.standards import City, Standards
from geofence.grid import Level
from geofence.spans import complement
from geofence.staffing import shifts_of
from store import alerts as alert_store
from store.queries import read_observed, read_records
from store.records import CELL_VISITS, FEED_STREAM, CameraHealth, CameraSnapshot, Checkin, DeviceStatus, FeedBatch, PatrolFix
from store.registry import load_version, versions_between

from .image import pick_reference, snapshot_light
from .lifecycle import Action, Alert, AlertState, Change, Lifecycle, Silence
from .mute import Muter
from .notify import Dispatcher
from .rules import Condition, blind, cameras, feed, images, indicator, patrol, units
from .settings import AlertSettings
from .types import AlertType, Severity

log = logging.getLogger(__name__)

GROUP = "pingan-alerts"
RECENT_S = 900.0  # devices heard within this (wall clock) set the watermark
REPLAY_STEP_S = 10.0  # a replay from the database is swept every this much event time
LIVE_S = 20.0  # the feed is live when the devices' median latest record is this close to the wall clock


@dataclass
class ServiceStats:
    entries: int = 0
    records: int = 0
    opened: int = 0
    resolved: int = 0
    escalated: int = 0
    reconciled: int = 0
    muted: int = 0
    watermark: float = -math.inf


@dataclass
class _State:
    cameras: dict[str, cameras.CameraState] = field(default_factory=dict)
    units: dict[str, units.UnitState] = field(default_factory=dict)
    images: dict[str, images.ImageState] = field(default_factory=dict)
    patrol: patrol.PatrolState = field(default_factory=patrol.PatrolState)
    feed: feed.FeedState = field(default_factory=feed.FeedState)
    previous_image: dict[str, bytes] = field(default_factory=dict)
    reference_image: dict[str, dict[str, bytes]] = field(default_factory=dict)  # camera → light → view


class AlertService:
    def __init__(self, settings: AlertSettings, std: Standards, connect: Callable[[], psycopg.Connection],
                 client: redis.Redis, dispatcher: Dispatcher, *, consumer: str = "alerts-1",
                 period: tuple[float, float] | None = None, wall: Callable[[], float] = time.time,
                 diagnose: Callable[[bytes, bytes | None, bytes | None], Any] | None = None, team_minimum: int = 10):
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
        self.lifecycle = Lifecycle(settings)
        self.silences: list[Silence] = []  # the maintenance windows not long ended (``alerts.mute``)
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread: threading.Thread | None = None
        self._state = _State()
        self._city: City | None = None
        self._period: tuple[float, float] | None = None
        self._next_sweep = 0.0
        self._next_sync = 0.0
        self._closed_period: tuple[float, float] | None = None
        self._teams: dict[str, str] = {}
        self._said_visits: dict[str, float] = {}  # cell → the visit last published to Redis
        self._sites: dict = {}  # camera id → (its registry entry, its cell)
        self._latest: dict[str, tuple[float, float]] = {}  # device → its latest record time, and when heard
        self._next_patrol = -math.inf  # event time of the next coverage and staffing judgement
        self._next_indicator = -math.inf  # … and of the next coverage indicator
        self._judged_shifts: set[tuple[float, float]] = set()
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

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

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
                if self._conn is not None:
                    try:
                        self._conn.close()
                    except Exception:  # closing a broken connection may fail too
                        pass
                    self._conn = None
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, 5.0)

    def _setup(self) -> None:
        conn = self._connection()
        self._city = self._load_city(conn)
        self._ensure_group()
        self.lifecycle.load(_alert(r) for r in alert_store.unresolved(conn))
        self.lifecycle.load_resolved(_alert(r) for r in alert_store.find(
            conn, state="resolved", since=self._period_of(self.wall())[0] - 86_400, limit=1_000_000))
        self._load_silences(conn)
        self._state = _State()
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
            self._changes(self.lifecycle.apply(conds, now), notify=True)
            if i < len(records):
                self.sweep(now)
        self._advance()

    def _load_city(self, conn: psycopg.Connection) -> City:
        versions = versions_between(conn, self.wall(), self.wall() + 1)
        if not versions:
            raise RuntimeError("no registry version: run `pingan migrate` with a grid first")
        version = versions[-1][0]
        doc = load_version(conn, version)
        self._teams = {u["id"]: u["team"] for u in doc["units"] if u.get("team")}
        city = City.of(version, doc)
        self._sites = {c.id: (c, cell) for c, cell in zip(city.cameras, city.camera_cells, strict=True)}
        return city

    def _load_references(self, conn: psycopg.Connection) -> None:
        """Cameras' reference views stored since the last look (a maintainer accepted a new one)."""
        for r in alert_store.references(conn, self._references_at):
            self._state.reference_image.setdefault(r["camera_id"], {})[r["light"]] = bytes(r["image"])
            self._references_at = r["accepted_at"]

    def _load_silences(self, conn: psycopg.Connection) -> None:
        self.silences = [Silence(s["silence_id"], s["kind"], s["target"], s["starts"], s["ends"], s["who"],
                                           s["why"]) for s in alert_store.silences(conn, self.wall() - 86_400)]

    # -- the city's scope: what an alert's subject belongs to ----------------------------------
    def _areas(self, area_id: str | None) -> dict[str, str]:
        """A cell (or any area) and the areas above it, by level: {"cell", "street", "district", "city"}."""
        if area_id is None or self._city is None or area_id not in self._city.grid.cells:
            return {}
        grid = self._city.grid
        return {("cell" if str(grid.cells[a].level) == "grid" else str(grid.cells[a].level)): a
                for a in (area_id, *grid.ancestors[area_id])}

    def _camera(self, camera_id: str) -> cameras.CameraState:
        st = self._state.cameras.get(camera_id)
        if st is None:
            cam, cell = self._sites.get(camera_id, (None, None))
            scope = {"category": str(cam.category) if cam else "other", **self._areas(cell)}
            st = cameras.CameraState(camera_id, self.std.heartbeat_s(cam) if cam else 300.0,
                                     cam.expected_fps if cam else None, scope)
            self._state.cameras[camera_id] = st
        return st

    def _unit(self, unit_id: str) -> units.UnitState:
        st = self._state.units.get(unit_id)
        if st is None:
            team = self._teams.get(unit_id)
            grid = self._city.grid if self._city else None
            area = team if grid is not None and team in grid.cells else None
            st = units.UnitState(unit_id, area, {"kind": self._city.kinds.get(unit_id, "car") if self._city else "car",
                                                 **({"team": team} if team else {}), **self._areas(None)})
            self._state.units[unit_id] = st
        return st

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
            self._state.feed.lag_s = max(0.0, self.wall() - batch.committed)
            self._apply_batch(batch)
        self._state.feed.last_arrival = self.wall()
        self._state.feed.expecting = True
        self.client.xack(FEED_STREAM, GROUP, *ids)

    def _apply_batch(self, batch: FeedBatch) -> None:
        conds = self._records(batch.in_time_order())
        self._advance()
        self._changes(self.lifecycle.apply(conds, self.stats.watermark), notify=True)
        if not self._live() and self.stats.watermark >= self._swept_at + REPLAY_STEP_S:
            self.sweep(self.stats.watermark)  # a history replayed fast: absence swept per step of event time

    def _records(self, records: list) -> list[Condition]:
        """Records through their rules, in time order; each device's latest time noted for the watermark
        (a time more than 10 minutes ahead of the clock is not believed)."""
        conds: list[Condition] = []
        heard = self.wall()
        for r in records:
            self.stats.records += 1
            conds += self._record(r)
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

    def _record(self, r) -> list[Condition]:
        t = type(r)
        if t is PatrolFix:
            st = self._unit(r.unit_id)
            patrol.add_fix(self._state.patrol, r, self._city.kinds.get(r.unit_id, "car") if self._city else "car")
            return units.on_fix(st, r, self._city.grid.ancestors if self._city else {}, self._unit_params())
        if t is CameraHealth:
            return cameras.on_health(self._camera(r.camera_id), r, self._camera_params())
        if t is DeviceStatus:
            if r.kind == "camera":
                return cameras.on_status(self._camera(r.device_id), r, self._camera_params())
            if r.source == "duty":
                return units.on_duty(self._unit(r.device_id), r, self._unit_params())
            return []
        if t is Checkin:
            patrol.add_checkin(self._state.patrol, r)
            return []
        if t is CameraSnapshot:
            return self._snapshot(r)
        return []

    def _snapshot(self, s: CameraSnapshot) -> list[Condition]:
        if self.diagnose is None or not s.image:
            return []
        st = self._state.images.get(s.camera_id)
        if st is None:
            st = self._state.images[s.camera_id] = images.ImageState(s.camera_id, self._camera(s.camera_id).scope)
        if s.ts <= st.last_ts:
            return []
        prev = self._state.previous_image.get(s.camera_id)
        refs = self._state.reference_image.setdefault(s.camera_id, {})
        try:
            light = snapshot_light(s.image)
            d = self.diagnose(s.image, prev, pick_reference(refs, light, self._daylight(s.ts)))
        except Exception:  # one bad image never stops the service
            log.exception("diagnosis failed on a snapshot of camera %s", s.camera_id)
            return []
        self._state.previous_image[s.camera_id] = s.image
        if light not in refs and not d.faults:  # the first healthy view in each light is its reference
            refs[light] = s.image
            conn = self._connection()
            alert_store.save_reference(conn, s.camera_id, light, s.image, s.ts, "pingan-alerts")
            conn.commit()
        return images.on_diagnosis(st, s.ts, d.faults, self.settings.image_confirm, d.scores)

    def _daylight(self, ts: float) -> bool:
        """Broad daylight in the city at ts (08:00–17:00, whatever the season)."""
        return 8 <= datetime.fromtimestamp(ts, ZoneInfo(self.std.timezone)).hour < 17

    def _camera_params(self) -> cameras.CameraParams:
        s = self.settings
        return cameras.CameraParams(self.std.missed_heartbeats, s.low_fps_ratio, s.flapping_transitions,
                                    s.flapping_window_s)

    def _unit_params(self) -> units.UnitParams:
        return units.UnitParams(self.std.patrol.max_gap_s)

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
            self._changes(self.lifecycle.tick(self.stats.watermark), notify=True)
        self.dispatcher.flush()

    def sweep(self, now: float | None = None, closing: bool = False) -> None:
        """Absence and the periodic rules at event time `now` (default: the watermark)."""
        if now is None:
            self._advance()
            now = self.stats.watermark
        self._swept_at = now
        conds: list[Condition] = []
        if math.isfinite(now):
            self._observe(now)
            cp, up, missed = self._camera_params(), self._unit_params(), self._missed()
            for st in self._state.cameras.values():
                conds += cameras.on_tick(st, now, cp, missed)
            for st in self._state.units.values():
                conds += units.on_tick(st, now, up, missed)
            conds += self._patrol(now, closing)
            self._publish_visits()
            conds += self._indicators(now, closing)
        changes = self.lifecycle.apply(conds, now)
        wall = self.wall()  # the ingest is judged on the wall clock: while it is stalled, event time stands still
        changes += self.lifecycle.apply(feed.on_tick(self._state.feed, wall, self.settings.ingest_stall_s,
                                                     self.settings.ingest_lag_s), wall)
        changes += self.lifecycle.tick(now)
        if self._city is not None and math.isfinite(now):  # from what is open now: gaps and blind cameras together
            p = self._patrol_params()
            changes += self.lifecycle.apply(blind.blind_spots(self.lifecycle.open, self._key_cameras(), now,
                                                              p.cell_scope), now)
        self._changes(changes, notify=True)

    def _key_cameras(self) -> dict[str, list[str]]:
        """Key cell → the key-location cameras in it."""
        if getattr(self, "_key_cameras_for", None) is not self._city:
            city, key = self._city, self.std.defence.key_camera_categories
            keys = {c.id for c in city.grid.leaves if str(c.priority) == "key"}
            self._key_cams = {cell: [] for cell in keys}
            for cam, cell in zip(city.cameras, city.camera_cells, strict=True):
                if cell in keys and str(cam.category) in key:
                    self._key_cams[cell].append(cam.id)
            self._key_cameras_for = city
        return self._key_cams

    def _period_of(self, t: float) -> tuple[float, float]:
        if self.fixed_period is not None:
            return self.fixed_period
        _, a, b = next(city_days(t, t + 1, self.std.timezone))
        return a, b

    def _patrol(self, now: float, closing: bool) -> list[Condition]:
        if self._city is None or (not closing and now < self._next_patrol):
            return []
        self._next_patrol = now + self.settings.coverage_every_s
        at = now if closing else now - self.settings.lateness_s
        start, end = self._period_of(at)
        out: list[Condition] = []
        if self._period is not None and self._period != (start, end) and self._closed_period != self._period:
            # the day changed: judge the closing day at its end first, then start the new one
            out += self._evaluate(self._period[0], self._period[1], closed=True)
            self._closed_period = self._period
            patrol.prune(self._state.patrol, start)
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
        visits = self._state.patrol.visits
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
        """Each street's and district's defence-system coverage over the rolling window, from the
        store by the assessment itself; a replayed period is judged once, whole, at its end."""
        at = now if closing else now - self.settings.lateness_s
        if self._city is None or (self.fixed_period is not None and not closing) or at < self._next_indicator:
            return []
        self._next_indicator = at + self.settings.indicator_every_s
        start = self.fixed_period[0] if self.fixed_period else at - self.settings.indicator_window_s
        end = min(at, self.fixed_period[1]) if self.fixed_period else at
        conn = self._connection()
        try:  # (a window reaching back before the first grid starts with it)
            start = max([start, *(f for _, f, _ in versions_between(conn, start, end)[:1])])
            assessor = Assessor(conn, self.std, store=False, clock=self.wall)
            result = assessor.period(start, end)
            areas = [a for level in (Level.STREET, Level.DISTRICT) for a in assessor.areas(result, level)]
        except CoverageError as e:
            log.info("coverage indicator not judged: %s", e)
            return []
        finally:
            conn.rollback()
        return indicator.judge(areas, TARGET, start, end, {a.area_id: self._areas(a.area_id) for a in areas})

    def _evaluate(self, start: float, at: float, closed: bool) -> list[Condition]:
        if self._city is None:
            return []
        params = self._patrol_params()
        missed = self._missed()
        silent = {st.cell for st in self._state.units.values()
                  if st.cell and units.silent_since(st, at, self._unit_params(), missed) is not None}
        unobserved = self._unobserved(start, at)
        return (patrol.evaluate(self._state.patrol, params, start, at, closed=closed, held=silent,
                                unobserved=unobserved)
                + self._teams_judged(start, at, closed, unobserved))

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

    def _teams_judged(self, start: float, at: float, closed: bool,
                      unobserved: list[tuple[float, float]]) -> list[Condition]:
        """The shifts within [start, at] that have ended (and, where the period closes, the one it
        cuts), each judged once."""
        grid = self._city.grid
        teams = {u: t for u, t in self._teams.items() if t in grid.cells}
        if not teams:
            return []
        due = []
        for day, _, _ in city_days(start, at, self.std.timezone):
            for a, b in shifts_of(day, self.settings.team_shifts, self.std.timezone):
                a, b = max(a, start), min(b, at) if closed else b
                if a < b <= at and (a, b) not in self._judged_shifts:
                    self._judged_shifts.add((a, b))
                    due.append((a, b))
        if not due:
            return []
        scope = {t: self._areas(t) for t in set(teams.values())}
        return patrol.team_shifts(self._state.patrol, teams, due, self.team_minimum, scope, unobserved)

    def _patrol_params(self) -> patrol.PatrolParams:
        if getattr(self, "_params_for", None) is not self._city:
            city = self._city
            cells = {c.id: {"priority": str(c.priority), **self._areas(c.id)} for c in city.grid.leaves}
            cps = {cp.id: self._areas(cell) for cp, cell in zip(city.checkpoints, city.checkpoint_cells, strict=True)}
            self._params = patrol.PatrolParams(city.grid, city.index, self.std.patrol, city.checkpoints, cells, cps)
            self._params_for = city
        return self._params

    def _final(self) -> None:
        """On stop: a replayed period is swept once more at its end and closed."""
        if self._finish_at is not None:
            self.sweep(self._finish_at, closing=True)
        self.dispatcher.flush(force=True)

    # -- operators -----------------------------------------------------------------------------
    def _sync_operators(self) -> None:
        """What operators did meanwhile (acknowledged, resolved by hand, silenced)."""
        conn = self._connection()
        rows = {(r["type"], r["subject"]): _alert(r) for r in alert_store.unresolved(conn)}
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
    def _changes(self, changes: list[Change], notify: bool) -> None:
        if not changes:
            return
        conn = self._connection()
        out = []
        wall = self.wall()
        for c in changes:
            a = c.alert
            mute = self._muter().why(a, wall, self.lifecycle.open, self.silences) if notify else None
            if c.action is Action.OPEN:
                if mute is not None and mute.silence_id:
                    a = replace(a, silence_id=mute.silence_id)
                    self.lifecycle.open[a.key] = a
                stored_id = alert_store.open_alert(conn, _row(a), c.at)
                if stored_id != a.alert_id:  # opened already by an earlier run: keep that one
                    a = replace(a, alert_id=stored_id)
                    self.lifecycle.open[a.key] = a
                    continue
                self.stats.opened += 1
            elif c.action is Action.RESOLVE:
                if not alert_store.resolve(conn, a.alert_id, c.at, c.actor):
                    continue
                self.stats.resolved += 1
            elif c.action is Action.ESCALATE:
                alert_store.escalate(conn, a.alert_id, str(a.severity), a.escalations, c.at)
                self.stats.escalated += 1
            if mute is not None:  # recorded, not notified
                alert_store.add_event(conn, a.alert_id, "muted", "pingan", at=c.at, note=f"{c.action}: {mute.note}")
                self.stats.muted += 1
                continue
            out.append(Change(c.action, a, c.at, c.actor))
        conn.commit()
        if notify:
            self.dispatcher.dispatch(out)

    def _muter(self) -> Muter:
        if getattr(self, "_muter_for", None) is not self._city or self._city is None:
            key_cell = {cam: cell for cell, cams in (self._key_cameras() if self._city else {}).items() for cam in cams}
            self._mute = Muter(key_cell, self.settings.ingest_stall_s)
            self._muter_for = self._city
        return self._mute


def _row(a: Alert) -> dict[str, Any]:
    return {"alert_id": a.alert_id, "type": str(a.type), "subject": a.subject, "severity": str(a.severity),
            "since": a.since, "opened_at": a.opened_at, "scope": dict(a.scope), "detail": _plain(a.detail),
            "escalations": a.escalations, "silence_id": a.silence_id}


def _plain(detail) -> dict:
    return msgspec.json.decode(msgspec.json.encode(dict(detail))) if detail else {}


def _alert(r: dict[str, Any]) -> Alert:
    return Alert(r["alert_id"], AlertType(r["type"]), r["subject"], Severity(r["severity"]), AlertState(r["state"]),
                 r["since"], r["opened_at"], r["scope"] or {}, r["detail"] or {}, r["acknowledged_at"],
                 r["acknowledged_by"], r["resolved_at"], r["resolved_by"], r["escalations"], r["silence_id"])
