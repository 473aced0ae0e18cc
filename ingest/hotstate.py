"""Live state in Redis: latest position per unit, camera last-seen and status, counters.

Only a newer fix moves a unit (compare-and-set in a Lua script, so concurrent workers agree).
Redis is a cache of the database: when it is down ingest carries on without it, and when it
comes back the state is rebuilt from the database before updates resume. A Redis that lost its
data without failing a write (restarted without persistence, flushed) is noticed too: every
rebuild sets ``pingan:epoch``, and every update and every idle check looks for it. The counters
come back from the database's running counts (``pingan.ingest_counter``), the units' and
cameras' latest state from their latest rows, idle ones included.
"""

from __future__ import annotations

import logging
import time
from typing import Mapping

import msgspec
import psycopg
import redis

from store.records import FEED_STREAM, CameraHealth, DeviceStatus, FeedBatch, PatrolFix

log = logging.getLogger(__name__)

PREFIX = "pingan"
UNIT_GEO = f"{PREFIX}:unit:geo"
COUNTERS = f"{PREFIX}:counters"
EPOCH = f"{PREFIX}:epoch"  # set by every rebuild: gone means Redis lost what it held


def unit_key(unit_id: str) -> str:
    return f"{PREFIX}:unit:{unit_id}"


def camera_key(camera_id: str) -> str:
    return f"{PREFIX}:camera:{camera_id}"


# KEYS[1] hash, KEYS[2] geo set (or absent); ARGV[1] time field, ARGV[2] ts, ARGV[3] geo member,
# ARGV[4] lon, ARGV[5] lat, ARGV[6..] field/value pairs. Writes only when ts is newer.
_SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], unpack(ARGV, 6))
if KEYS[2] then redis.call('GEOADD', KEYS[2], ARGV[4], ARGV[5], ARGV[3]) end
return 1
"""


def _s(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


class HotState:
    def __init__(self, client: redis.Redis, retry_s: float = 5.0, clock=time.monotonic, feed_maxlen: int = 100_000):
        self.client = client
        self.feed_maxlen = feed_maxlen
        self._encode = msgspec.msgpack.Encoder()
        self.retry_s = retry_s
        self.clock = clock
        self._script = client.register_script(_SET_IF_NEWER)
        self.available = True
        self._next_probe = 0.0

    # -- updates ---------------------------------------------------------------------------
    def apply(self, feed: FeedBatch, counters: Mapping[str, int]) -> bool:
        """Push a committed batch, and append it to the live feed; False when Redis is unavailable
        (state will be rebuilt; the alert service reconciles what the feed missed from the database)."""
        fixes, health, statuses = feed.fixes, feed.health, feed.statuses
        if not self.available:
            return False
        latest: dict[str, PatrolFix] = {}
        for f in fixes:
            if f.unit_id not in latest or f.ts > latest[f.unit_id].ts:
                latest[f.unit_id] = f
        cams: dict[str, CameraHealth] = {}
        for h in health:
            if h.camera_id not in cams or h.ts > cams[h.camera_id].ts:
                cams[h.camera_id] = h
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.exists(EPOCH)
            for f in latest.values():
                self._fix(pipe, f)
            for h in cams.values():
                self._health(pipe, h)
            for s in statuses:
                self._status(pipe, s)
            for name, n in counters.items():
                if n:
                    pipe.hincrby(COUNTERS, name, n)
            if len(feed):
                pipe.xadd(FEED_STREAM, {"b": self._encode.encode(feed)}, maxlen=self.feed_maxlen, approximate=True)
            held = pipe.execute()[0]
        except redis.RedisError as e:
            self._lost(e)
            return False
        if not held:
            self._emptied()
            return False
        return True

    def check(self) -> bool:
        """An idle worker's look at Redis: False when it lost its data (or is down)."""
        if not self.available:
            return False
        try:
            held = self.client.exists(EPOCH)
        except redis.RedisError as e:
            self._lost(e)
            return False
        if not held:
            self._emptied()
        return bool(held)

    def _emptied(self) -> None:
        log.warning("redis lost the hot state (restarted or flushed); rebuilding it from the database")
        self.available = False
        self._next_probe = self.clock()

    def _fix(self, pipe, f: PatrolFix) -> None:
        self._script(keys=[unit_key(f.unit_id), UNIT_GEO],
                     args=["ts", f.ts, f.unit_id, f.lon, f.lat,
                           "lat", f.lat, "lon", f.lon, "acc", _s(f.acc), "spd", _s(f.spd), "hdg", _s(f.hdg),
                           "batt", _s(f.batt), "cell", _s(f.cell_id), "officers", ",".join(f.officers)],
                     client=pipe)

    def _health(self, pipe, h: CameraHealth) -> None:
        self._script(keys=[camera_key(h.camera_id)],
                     args=["last_seen", h.ts, "", 0, 0, "online", _s(h.online), "fps", _s(h.fps),
                           "recording", _s(h.recording), "storage_ok", _s(h.storage_ok)],
                     client=pipe)

    def _status(self, pipe, s: DeviceStatus) -> None:
        key = camera_key(s.device_id) if s.kind == "camera" else unit_key(s.device_id)
        self._script(keys=[key], args=["status_ts", s.ts, "", 0, 0, "status", "online" if s.online else "offline"],
                     client=pipe)

    # -- availability ----------------------------------------------------------------------
    def _lost(self, e: Exception) -> None:
        if self.available:
            log.warning("redis unavailable, ingest continues without hot state: %s", e)
        self.available = False
        self._next_probe = self.clock() + self.retry_s

    def recover(self, conn: psycopg.Connection) -> bool:
        """When Redis is down and a probe is due: if it answers, rebuild from the database."""
        if self.available or self.clock() < self._next_probe:
            return self.available
        try:
            self.client.ping()
            n = self.rebuild(conn)
        except redis.RedisError as e:
            self._next_probe = self.clock() + self.retry_s
            log.debug("redis still unavailable: %s", e)
            return False
        self.available = True
        log.warning("redis is back; hot state rebuilt from the database (%d devices)", n)
        return True

    def rebuild(self, conn: psycopg.Connection) -> int:
        """Latest fix per unit and latest health/status per camera, from the database."""
        fixes = [PatrolFix(u, ts, lat, lon, acc, spd, hdg, batt, tuple(officers or ()), seq, src, cell)
                 for u, ts, lat, lon, acc, spd, hdg, batt, officers, seq, src, cell in conn.execute(
                     "SELECT u.unit_id, extract(epoch FROM p.ts)::float8, p.lat, p.lon, p.acc, p.spd, p.hdg, p.batt, "
                     "p.officers, p.seq, p.source, p.cell_id FROM pingan.unit u CROSS JOIN LATERAL ("
                     "SELECT * FROM pingan.patrol_ping p WHERE p.unit_id = u.unit_id ORDER BY p.ts DESC LIMIT 1) p")]
        health = [CameraHealth(c, ts, online, fps, recording=rec, storage_ok=sto)
                  for c, ts, online, fps, rec, sto in conn.execute(
                      "SELECT c.camera_id, extract(epoch FROM h.ts)::float8, h.online, h.fps, h.recording, "
                      "h.storage_ok FROM pingan.camera c CROSS JOIN LATERAL (SELECT * FROM pingan.camera_health h "
                      "WHERE h.camera_id = c.camera_id ORDER BY h.ts DESC LIMIT 1) h")]
        statuses = [DeviceStatus(kind, d, ts, online)
                    for kind, d, ts, online in conn.execute(
                        "SELECT DISTINCT ON (kind, device_id) kind, device_id, extract(epoch FROM ts)::float8, online "
                        "FROM pingan.device_status ORDER BY kind, device_id, ts DESC")]
        counts = dict(conn.execute("SELECT name, sum(value)::bigint FROM pingan.ingest_counter GROUP BY name"))
        conn.commit()
        pipe = self.client.pipeline(transaction=False)
        for f in fixes:
            self._fix(pipe, f)
        for h in health:
            self._health(pipe, h)
        for s in statuses:
            self._status(pipe, s)
        pipe.delete(COUNTERS)
        if counts:
            pipe.hset(COUNTERS, mapping=counts)
        pipe.set(EPOCH, f"{time.time():.3f}")
        pipe.execute()
        return len(fixes) + len(health)


def latest_position(client: redis.Redis, unit_id: str) -> dict[str, str] | None:
    """The unit's latest position as the hot state holds it (for the API and tests)."""
    raw = client.hgetall(unit_key(unit_id))
    if not raw:
        return None
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}


def live_summary(client: redis.Redis) -> dict[str, int]:
    """How many units have a live position and how many cameras report (and are offline)."""
    cameras = offline = 0
    for key in client.scan_iter(match=f"{PREFIX}:camera:*", count=500):
        cameras += 1
        online, status = client.hmget(key, "online", "status")
        if online == b"0" or status == b"offline":
            offline += 1
    return {"units": client.zcard(UNIT_GEO), "cameras": cameras, "cameras_offline": offline}
