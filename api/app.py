"""The HTTP API: an aiohttp application made by ``make_app``.

The database pool (psycopg_pool; the store's functions are synchronous and run on threads) and
Redis (redis.asyncio) live in typed ``AppKey``s, opened and closed by ``cleanup_ctx``. Every
request under ``/api/v1/`` but the OpenAPI document needs a bearer token (``api.tokens``); what
it returns is limited to the token's districts, and every write is recorded with its owner.
Errors are JSON with a reason (``api.errors``).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import msgspec
import prometheus_client
import psycopg
import redis.asyncio as aioredis
from aiohttp import web
from psycopg_pool import ConnectionPool

from alerts import actions
from alerts.types import AlertType
from assessment.defence import TARGET, Assessor, CoverageError
from assessment.standards import Standards
from geofence.grid import Level
from ingest.hotstate import camera_key, unit_key
from ingest.mqtt import BrokerAddress, broker_answers
from reports.make import Ask, ReportError, load_renderers, make
from store import alerts as alert_store
from store.records import CELL_VISITS

from . import live, tokens, views
from .errors import ApiError, errors
from .openapi import DOCUMENT
from .settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiConfig:
    db_url: str
    redis_url: str | None
    standards: Standards
    settings: ApiSettings = ApiSettings()
    broker: BrokerAddress | None = None  # for /readyz: an MQTT CONNECT answered
    redis_client: Callable[[], aioredis.Redis] | None = None  # an in-process Redis, where there is no server
    redis_sync: Callable[[], Any] | None = None  # … and its synchronous client
    team_shifts: tuple[str, ...] = ("00:00", "08:00", "16:00", "24:00")  # (alerts.team_shifts: the reports')
    team_minimum: int = 10  # (coverage.team_minimum)


CONFIG = web.AppKey("config", ApiConfig)
DB = web.AppKey("db", ConnectionPool)
REDIS = web.AppKey("redis", aioredis.Redis)
REGISTRY = web.AppKey("registry", dict)  # {"at": when loaded, "reg": views.Registry | None}
HUB = web.AppKey("hub", live.Hub)
TOKENS = web.AppKey("tokens", dict)  # token text → (when checked, its principal)
_json = msgspec.json.Encoder().encode
PRINCIPAL = web.RequestKey("principal", tokens.Principal)

REQUESTS = prometheus_client.Counter("pingan_api_requests", "API requests", ["route", "status"])
LATENCY = prometheus_client.Histogram("pingan_api_seconds", "API request time", ["route"])


# -- lifecycle -------------------------------------------------------------------------------------
async def _database(app: web.Application) -> AsyncIterator[None]:
    pool = ConnectionPool(app[CONFIG].db_url, min_size=1, max_size=8, open=False, name="pingan-api",
                          kwargs={"application_name": "pingan-api"})
    await asyncio.to_thread(pool.open, wait=True, timeout=30)
    app[DB] = pool
    yield
    await asyncio.to_thread(pool.close)


async def _redis(app: web.Application) -> AsyncIterator[None]:
    c = app[CONFIG]
    client = c.redis_client() if c.redis_client else aioredis.from_url(c.redis_url or "redis://127.0.0.1:6379/0")
    app[REDIS] = client
    yield
    await client.aclose()


async def _live(app: web.Application) -> AsyncIterator[None]:
    """The live feed's one reader of the Redis streams, for every WebSocket client of this process."""
    c = app[CONFIG]
    client = c.redis_client() if c.redis_client else aioredis.from_url(c.redis_url or "redis://127.0.0.1:6379/0")

    def district_of(device: str) -> str | None:
        reg = app[REGISTRY]["reg"]
        return reg.district.get(device) if reg is not None else None

    hub = app[HUB] = live.Hub(client, district_of, c.settings.live_queue, poll=c.redis_client is not None,
                                    batch_s=c.settings.live_batch_s)
    task = asyncio.create_task(hub.run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.aclose()


def make_app(config: ApiConfig) -> web.Application:
    load_renderers()
    app = web.Application(middlewares=[_metered, errors, _authenticated], client_max_size=config.settings.max_body_bytes)
    app[CONFIG] = config
    app[REGISTRY] = {"at": 0.0, "reg": None}
    app[TOKENS] = {}
    app[UNITS] = LiveUnits(config.settings.units_fresh_s)
    app.cleanup_ctx.extend([_database, _redis, _live, _units_task])
    app.add_routes(ROUTES)
    return app


# -- middlewares -----------------------------------------------------------------------------------
@web.middleware
async def _metered(request: web.Request, handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    t = time.perf_counter()
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    finally:
        REQUESTS.labels(route, str(status)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - t)


OPEN = {"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"}
# the query parameters each operation takes, from the document (and a token, anywhere)
QUERY = {(method.upper(), path): {p["name"] for p in op.get("parameters", ()) if p["in"] == "query"} | {"access_token"}
         for path, ops in DOCUMENT["paths"].items() for method, op in ops.items()}


@web.middleware
async def _authenticated(request: web.Request, handler) -> web.StreamResponse:
    if request.path in OPEN or not request.path.startswith("/api/") or request.match_info.http_exception is not None:
        return await handler(request)  # (no such path or method: 404 or 405 as it is)
    resource = request.match_info.route.resource
    allowed = QUERY.get((request.method, resource.canonical if resource else ""), {"access_token"})
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise ApiError(400, f"unknown query parameter(s) {', '.join(map(repr, unknown))}")
    if any("\x00" in v for v in (*request.query.values(), *request.match_info.values())):
        raise ApiError(400, "a NUL character in the path or the query")
    header = request.headers.get("Authorization", "")
    text = header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("access_token", "")
    if not text:
        raise ApiError(401, "a bearer token is needed (Authorization: Bearer pa_…)",
                       {"WWW-Authenticate": 'Bearer realm="pingan"'})
    principal = await _principal_of(request, text)
    await _rate_limit(request, principal)
    request[PRINCIPAL] = principal
    return await handler(request)


TOKEN_TTL_S = 5.0  # a token's check is reused this long: a revoked token stops working within it


async def _principal_of(request: web.Request, text: str) -> tokens.Principal:
    cache = request.app[TOKENS]
    hit = cache.get(text)
    if hit is not None and time.monotonic() - hit[0] < TOKEN_TTL_S:
        return hit[1]
    principal = await _db(request, tokens.lookup, text)  # (an unknown or revoked one raises: never cached)
    if len(cache) > 10_000:
        cache.clear()
    cache[text] = (time.monotonic(), principal)
    return principal


async def _rate_limit(request: web.Request, p: tokens.Principal) -> None:
    """A fixed one-second window per token in Redis, shared by every API process."""
    limit = request.app[CONFIG].settings.rate_per_s
    second = int(time.time())
    key = f"pingan:rate:{p.token_id}:{second}"
    r = request.app[REDIS]
    try:
        async with r.pipeline(transaction=False) as pipe:
            count, _ = await pipe.incr(key).expire(key, 2).execute()
    except aioredis.RedisError:  # no Redis: no limit rather than no service
        return
    if count > limit:
        raise ApiError(429, f"more than {limit} requests per second with this token", {"Retry-After": "1"})


# -- helpers ---------------------------------------------------------------------------------------
async def _db(request: web.Request, fn: Callable, *args, **kw) -> Any:
    pool = request.app[DB]

    def run():
        with pool.connection() as conn:
            return fn(conn, *args, **kw)

    return await asyncio.to_thread(run)


async def _registry(request: web.Request) -> views.Registry:
    return await _registry_of(request.app)


async def _registry_of(app: web.Application) -> views.Registry:
    cache = app[REGISTRY]
    if cache["reg"] is None or time.time() - cache["at"] > 30:
        pool, tz = app[DB], app[CONFIG].standards.timezone

        def load():
            with pool.connection() as conn:
                return views.Registry.load(conn, time.time(), tz)

        cache["reg"] = await asyncio.to_thread(load)
        cache["at"] = time.time()
    if cache["reg"] is None:
        raise ApiError(503, "no grid is loaded: run `pingan migrate` with grid.path set")
    return cache["reg"]


def _sync_redis(c: "ApiConfig"):
    if c.redis_sync is not None:
        return c.redis_sync()
    import redis

    return redis.Redis.from_url(c.redis_url or "redis://127.0.0.1:6379/0")


def _principal(request: web.Request) -> tokens.Principal:
    return request[PRINCIPAL]


def _visible(request: web.Request, rows: list[dict], key: str = "district") -> list[dict]:
    p = _principal(request)
    return [r for r in rows if p.sees(r.get(key))]


def _number(request: web.Request, name: str, default: float | None = None, lo: float = -1e18, hi: float = 1e18) -> float:
    text = request.query.get(name)
    if text is None:
        if default is None:
            raise ApiError(400, f"query parameter {name!r} is required")
        return default
    try:
        v = float(text)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be a number, not {text!r}") from None
    if not lo <= v <= hi or v != v:
        raise ApiError(400, f"query parameter {name!r} must be within [{lo:g}, {hi:g}]")
    return v


def _integer(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    # plain ASCII digits only: "²" is a digit to str.isdigit and no number to int; int takes "1_0" and " 5"
    v = int(text) if text.isascii() and text.removeprefix("-").isdigit() else None
    if v is None or not lo <= v <= hi:
        raise ApiError(400, f"query parameter {name!r} must be a whole number within [{lo}, {hi}], not {text!r}")
    return v


def _choice(request: web.Request, name: str, default: str, choices: tuple[str, ...]) -> str:
    text = request.query.get(name, default)
    if text not in choices:
        raise ApiError(400, f"query parameter {name!r} must be one of {', '.join(choices)}, not {text!r}")
    return text


async def _body(request: web.Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    if any(isinstance(v, str) and "\x00" in v for v in data.values()):
        raise ApiError(400, "a NUL character in the body's text")
    return data


# -- health ------------------------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    parts: dict[str, str] = {}

    def db(conn: psycopg.Connection) -> None:
        conn.execute("SELECT 1 FROM pingan.registry_version LIMIT 1")

    try:
        await asyncio.wait_for(_db(request, db), 5)
        parts["database"] = "ok"
    except Exception as e:  # what is wrong, in one line
        parts["database"] = f"error: {type(e).__name__}: {e}".splitlines()[0]
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), 5)
        parts["redis"] = "ok"
    except Exception as e:
        parts["redis"] = f"error: {type(e).__name__}: {e}".splitlines()[0]
    broker = request.app[CONFIG].broker
    if broker is not None:
        try:
            await asyncio.wait_for(asyncio.to_thread(broker_answers, broker, 3.0), 5)
            parts["broker"] = "ok"
        except Exception as e:
            parts["broker"] = f"error: {type(e).__name__}: {e}".splitlines()[0]
    ready = all(v == "ok" for v in parts.values())
    return web.json_response({"status": "ready" if ready else "not ready", "parts": parts}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=prometheus_client.generate_latest(), headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


# -- units ---------------------------------------------------------------------------------------------
class LiveUnits:
    """The units' live state for every client of this process: read whole from Redis at start
    and every `reread_s`, and kept current in between from the live feed the hub follows (the
    positions of every committed batch), so no request reads Redis. Every `fresh_s` the rows
    (with their ages) are built and encoded on a thread, once per set of districts, plain and
    gzip: the event loop keeps serving the last answer meanwhile. Each answer carries an ETag
    (the build it came from and the districts): polled with If-None-Match, 304 until the next."""

    def __init__(self, fresh_s: float, reread_s: float = 30.0):
        self.fresh_s, self.reread_s = fresh_s, reread_s
        self.states: dict[str, dict] = {}  # unit → its hot-state fields, as Redis holds them
        self.changed: set[str] = set()  # … since their rows were last made
        self.base: dict[str, dict] = {}  # unit → its row, but for its age
        self.built_for: views.Registry | None = None
        self.rows: list[dict] = []
        self.generation = 0
        self.encoded: dict[frozenset[str], asyncio.Future] = {}
        self.ready = asyncio.Event()

    def apply(self, batch) -> None:
        """A committed batch of the feed: its newest fix of each unit, where newer than the one held."""
        for f in batch.fixes:
            held = self.states.get(f.unit_id)
            if held is None or _ts(held) < f.ts:
                self.states[f.unit_id] = {b"ts": f.ts, b"lat": f.lat, b"lon": f.lon, b"spd": f.spd, b"cell": f.cell_id,
                                          b"officers": ",".join(f.officers)}
                self.changed.add(f.unit_id)

    async def run(self, app: web.Application) -> None:
        client = _sync_redis(app[CONFIG])
        stale_after_s = app[CONFIG].settings.stale_after_s
        read_at = -float("inf")
        while True:
            try:
                reg = await _registry_of(app)
                if time.monotonic() - read_at >= self.reread_s:
                    for u, st in (await asyncio.to_thread(self._read, client, list(reg.city.kinds))).items():
                        held = self.states.get(u)  # (the feed may have brought a newer fix meanwhile)
                        if held is None or _ts(held) <= _ts(st):
                            self.states[u] = st
                            self.changed.add(u)
                    read_at = time.monotonic()
                rows = self._rows(reg, stale_after_s)
                everything = await asyncio.to_thread(self._encode, rows, frozenset())
                self.rows, self.generation = rows, self.generation + 1
                done = asyncio.get_running_loop().create_future()
                done.set_result(everything)
                self.encoded = {frozenset(): done}
                self.ready.set()
            except Exception as e:  # Redis or the database away: the last answer stands, said once a loop
                log.warning("live units not refreshed: %s", e)
            await asyncio.sleep(self.fresh_s)

    def _rows(self, reg: views.Registry, stale_after_s: float) -> list[dict]:
        """Every unit's row now: those whose state changed made again (all, for a new registry)."""
        if reg is not self.built_for:
            self.base, self.changed, self.built_for = {}, set(reg.city.kinds), reg
        changed, self.changed = self.changed, set()
        for u in changed:
            if u in reg.city.kinds:
                self.base[u] = views.unit_row(reg, u, reg.city.kinds[u], self.states.get(u, {}))
        now = time.time()
        return [views.aged(self.base[u], now, stale_after_s) for u in reg.city.kinds]

    @staticmethod
    def _read(client, ids: list[str]) -> dict[str, dict]:
        pipe = client.pipeline(transaction=False)
        for uid in ids:
            pipe.hgetall(unit_key(uid))
        return dict(zip(ids, pipe.execute(), strict=True))

    @staticmethod
    def _encode(rows: list[dict], districts: frozenset[str]) -> tuple[bytes, bytes]:
        plain = _json({"units": [r for r in rows if not districts or r["district"] in districts]})
        return plain, gzip.compress(plain, 1)

    async def body(self, districts: frozenset[str]) -> tuple[bytes, bytes, str]:
        """The answer for a token's districts: plain, gzip, and its ETag."""
        if not self.ready.is_set():
            await asyncio.wait_for(self.ready.wait(), 30)
        generation, found = self.generation, self.encoded.get(districts)
        if found is None:  # the first asker of this set encodes it; the others wait for the same
            found = self.encoded[districts] = asyncio.ensure_future(asyncio.to_thread(self._encode, self.rows, districts))
        plain, packed = await found
        tag = hashlib.blake2b(b",".join(sorted(d.encode() for d in districts)), digest_size=6).hexdigest()
        return plain, packed, f'"{generation}-{tag}"'


def _ts(state: dict) -> float:
    return float(state.get(b"ts") or 0.0)


UNITS = web.AppKey("units", LiveUnits)


async def units(request: web.Request) -> web.Response:
    plain, packed, etag = await request.app[UNITS].body(_principal(request).districts)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(body=packed, content_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return web.Response(body=plain, content_type="application/json", headers=headers)


async def _units_task(app: web.Application) -> AsyncIterator[None]:
    app[HUB].watchers.append(app[UNITS].apply)
    task = asyncio.create_task(app[UNITS].run(app))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def unit_track(request: web.Request) -> web.Response:
    reg = await _registry(request)
    uid = request.match_info["unit_id"]
    if uid not in reg.city.kinds:
        raise ApiError(404, f"no unit {uid!r}")
    if not _principal(request).sees(reg.district.get(uid)):
        raise ApiError(403, f"unit {uid!r} is outside the districts this token may see")
    now = time.time()
    end = _number(request, "to", now, 0, 4e9)
    start = _number(request, "from", end - 3600, 0, 4e9)
    if end <= start or end - start > 31 * 86_400:
        raise ApiError(400, "the range must run forward and be at most 31 days")
    limit = _integer(request, "max_points", 2000, 2, 100_000)
    return web.json_response(await _db(request, views.track, uid, start, end, limit))


# -- cameras -------------------------------------------------------------------------------------------
def _image_faults(conn: psycopg.Connection) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in alert_store.unresolved(conn):
        if a["type"].startswith("image_"):
            out.setdefault(a["subject"], []).append(a["type"])
    conn.commit()
    return out


async def cameras(request: web.Request) -> web.Response:
    reg = await _registry(request)
    async with request.app[REDIS].pipeline(transaction=False) as pipe:
        for cam in reg.city.cameras:
            pipe.hgetall(camera_key(cam.id))
        states = await pipe.execute()
    std = request.app[CONFIG].standards
    uptime = _choice(request, "uptime", "true", ("true", "false")) == "true"

    def read(conn):
        return views.camera_rows(conn, reg, std, states, _image_faults(conn), time.time(), uptime)

    return web.json_response({"cameras": _visible(request, await _db(request, read))})


# -- the grid and the checkpoints ------------------------------------------------------------------------
async def cells(request: web.Request) -> web.Response:
    reg = await _registry(request)
    std = request.app[CONFIG].standards
    try:  # the alert service's qualifying visits, where it runs
        visits = {k.decode(): float(v) for k, v in (await request.app[REDIS].hgetall(CELL_VISITS)).items()}
    except aioredis.RedisError:
        visits = {}
    return web.json_response(await _db(request, views.cell_features, reg, std, time.time(),
                                       _principal(request).districts, visits or None))


async def checkpoints(request: web.Request) -> web.Response:
    reg = await _registry(request)
    rows = await _db(request, views.checkpoint_rows, reg, time.time())
    return web.json_response({"checkpoints": _visible(request, rows)})


# -- alerts ----------------------------------------------------------------------------------------------
STATES = ("active", "open", "acknowledged", "resolved", "all")


async def alerts(request: web.Request) -> web.Response:
    q = request.query
    state = _choice(request, "state", "active", STATES)
    kind = q.get("type")
    if kind is not None and kind not in {str(t) for t in AlertType}:
        raise ApiError(400, f"no alert type {kind!r}")
    limit = _integer(request, "limit", 50, 1, 1000)
    offset = _integer(request, "offset", 0, 0, 1_000_000)
    district = q.get("district")
    p = _principal(request)
    if district is not None and not p.sees(district):
        raise ApiError(403, f"district {district!r} is outside the districts this token may see")

    if district is not None:
        scope: set[str] | None = {district}
    else:
        scope = set(p.districts) if p.districts else None
    filters = {"state": None if state == "all" else state, "type": kind, "subject": q.get("subject"), "districts": scope}

    def read(conn):
        rows = alert_store.find(conn, **filters, limit=limit, offset=offset)
        total = alert_store.count(conn, **filters)
        conn.commit()
        return rows, total

    rows, total = await _db(request, read)
    return web.json_response({"alerts": [_alert_json(r) for r in rows], "total": total, "limit": limit,
                              "offset": offset})


def _alert_json(r: dict) -> dict:
    return {k: (str(v) if k in ("alert_id", "silence_id") and v is not None else v) for k, v in r.items()}


async def _own_alert(request: web.Request) -> dict:
    p = _principal(request)
    alert, _ = await _db(request, alert_store.get, request.match_info["alert_id"])
    if not p.sees((alert["scope"] or {}).get("district")):
        raise ApiError(403, "this alert is outside the districts this token may see")
    return alert


async def alert_one(request: web.Request) -> web.Response:
    alert = await _own_alert(request)
    _, events = await _db(request, alert_store.get, alert["alert_id"])
    return web.json_response({**_alert_json(alert), "events": events})


def _may_write(request: web.Request, alert: dict) -> None:
    p = _principal(request)
    camera = alert["type"].startswith(("camera_", "image_"))
    if not (p.may("alerts:write") or (camera and p.may("alerts:write:camera"))):
        raise ApiError(403, f"the {p.role} role may not change this alert")


async def alert_act(request: web.Request) -> web.Response:
    alert = await _own_alert(request)
    _may_write(request, alert)
    note = (await _body(request, ("note",))).get("note")
    if note is not None and not isinstance(note, str):
        raise ApiError(400, "note must be a string")
    now, done = await _db(request, _operator(actions.act), request.match_info["action"], alert["alert_id"],
                          _principal(request).owner, note)
    if not done:
        raise ApiError(409, f"the alert is {alert['state']} already")
    return web.json_response(_alert_json(now))


def _operator(fn):
    """An operator action (``alerts.actions``) run on a connection: its refusals as 400 and 404."""
    def run(conn, *args):
        try:
            return fn(conn, *args)
        except actions.NotFound as e:
            raise ApiError(404, str(e)) from None
        except actions.ActionError as e:
            raise ApiError(400, str(e)) from None
    return run


def _may_silence(request: web.Request, kind: str, target: str) -> None:
    p = _principal(request)
    if not p.may("silences:write"):
        raise ApiError(403, f"the {p.role} role may not silence alerts")
    if kind == "type" and p.districts:
        raise ApiError(403, "silencing a whole alert type needs a token for the whole city")


async def silence(request: web.Request) -> web.Response:
    p = _principal(request)
    body = await _body(request, ("kind", "target", "why", "duration_s"))
    kind, target, why, duration = body.get("kind"), body.get("target"), body.get("why"), body.get("duration_s")
    if not all(isinstance(v, str) for v in (kind, target, why)):
        raise ApiError(400, "kind, target and why are required strings")
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        raise ApiError(400, "duration_s must be a number of seconds")
    try:
        actions.bounded(duration)
    except actions.ActionError as e:
        raise ApiError(400, f"duration_s: {e}") from None
    _may_silence(request, kind, target)
    reg = await _registry(request)
    if kind != "type" and p.districts and reg.district.get(target) not in p.districts:
        raise ApiError(403, f"{target!r} is outside the districts this token may see")
    made = await _db(request, _operator(lambda conn: actions.silence(
        conn, actions.Names.of(reg.city, set(reg.teams)), kind, target, float(duration), p.owner, why, time.time())))
    return web.json_response(made, status=201)


async def _silences(request: web.Request) -> list[dict]:
    """The silences running now that the token may see (one on a type: city tokens only)."""
    reg = await _registry(request)
    found = await _db(request, alert_store.silences, time.time())
    return [s for s in found if _principal(request).sees(None if s["kind"] == "type" else reg.district.get(s["target"]))]


async def silences(request: web.Request) -> web.Response:
    return web.json_response({"silences": await _silences(request)})


async def unsilence(request: web.Request) -> web.Response:
    ref = request.match_info["silence_id"]
    running = [s for s in await _silences(request) if s["silence_id"].startswith(ref.lower())]
    if len(running) != 1:
        raise ApiError(404, f"no running silence {ref!r} this token may see")
    _may_silence(request, running[0]["kind"], running[0]["target"])
    ended = await _db(request, _operator(actions.end_silence), running[0]["silence_id"], _principal(request).owner,
                      time.time())
    return web.json_response(ended)


# -- coverage --------------------------------------------------------------------------------------------
async def coverage(request: web.Request) -> web.Response:
    level = Level(_choice(request, "level", "district", ("city", "district", "street", "grid")))
    now = time.time()
    end = _number(request, "to", now, 0, 4e9)
    start = _number(request, "from", end - 86_400, 0, 4e9)
    if end <= start or end - start > 400 * 86_400:
        raise ApiError(400, "the period must run forward and be at most 400 days")
    std = request.app[CONFIG].standards

    def assess(conn):
        a = Assessor(conn, std, store=False)
        try:
            r = a.period(start, end)
        except CoverageError as e:
            raise ApiError(422, str(e)) from None
        names = a.names(r)
        return [{"area_id": x.area_id, "name": names.get(x.area_id), "level": str(x.level), "cells": x.cells,
                 "covered": round(x.covered, 6), "unknown": round(x.unknown, 6), "not_covered": round(x.not_covered, 6),
                 "meets_target": x.covered >= TARGET} for x in a.areas(r, level)]

    reg = await _registry(request)
    rows = [r for r in await _db(request, assess) if _principal(request).sees(reg.district.get(r["area_id"]))]
    return web.json_response({"from": start, "to": end, "level": str(level), "target": TARGET, "areas": rows})


CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "html": "text/html", "pdf": "application/pdf",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


async def report(request: web.Request) -> web.Response:
    q = request.query
    area = q.get("area")
    principal = _principal(request)
    if principal.districts:  # a district-limited token: a report of an area within its districts
        reg = await _registry(request)
        if area is None or reg.district.get(area) not in principal.districts:
            raise ApiError(403, "this token sees only " + ", ".join(sorted(principal.districts)) +
                           ": ask for a report of an area within them (area=…)")
    fmt = _choice(request, "format", "json", tuple(CONTENT_TYPES))
    ask = Ask(request.match_info["kind"], q.get("period"), q.get("from"), q.get("to", "now"),
              _choice(request, "level", "all", ("district", "street", "all")), area,
              _number(request, "sla", 0.95, 1e-9, 1.0), _number(request, "reach_minutes", 5.0, 0.1, 120.0), fmt,
              q.get("table"))
    c = request.app[CONFIG]

    def made(conn):
        try:
            return make(conn, c.standards, ask, time.time(), shifts=c.team_shifts, team_minimum=c.team_minimum)
        except ReportError as e:
            raise ApiError(400, str(e)) from None

    _, body, name = await _db(request, made)
    charset = "utf-8" if fmt in ("json", "csv", "html") else None
    return web.Response(body=body, content_type=CONTENT_TYPES[fmt], charset=charset,
                        headers={"Content-Disposition": f'{"inline" if fmt in ("json", "html", "pdf") else "attachment"}; '
                                                        f'filename="{name}"'})


async def live_feed(request: web.Request) -> web.WebSocketResponse:
    await _registry(request)  # (the districts of what the feed carries)
    return await live.serve(request, request.app[HUB], _principal(request))


STATIC = Path(__file__).parent / "static"


async def dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def camera_image(request: web.Request) -> web.Response:
    """A camera's newest snapshot, or its reference view (in ?light=, else the newest accepted)."""
    reg = await _registry(request)
    cam = request.match_info["camera_id"]
    if cam not in {c.id for c in reg.city.cameras}:
        raise ApiError(404, f"no camera {cam!r}")
    if not _principal(request).sees(reg.district.get(cam)):
        raise ApiError(403, f"camera {cam!r} is outside the districts this token may see")
    kind = request.match_info["kind"]
    light = _choice(request, "light", "any", ("any", "colour", "grey", "night"))
    light = None if light == "any" else light

    def read(conn):
        if kind == "snapshot":
            return alert_store.latest_snapshot(conn, cam)
        refs = [r for r in alert_store.references(conn) if r["camera_id"] == cam and light in (None, r["light"])]
        return (refs[-1]["taken_at"], bytes(refs[-1]["image"])) if refs else None

    found = await _db(request, read)
    if found is None:
        raise ApiError(404, f"no {kind} of camera {cam!r} is stored")
    return web.Response(body=found[1], content_type="image/jpeg", headers={"X-Taken-At": f"{found[0]:.3f}"})


ROUTES = [
    web.get("/", dashboard),
    web.static("/static", STATIC),
    web.get("/healthz", healthz),
    web.get("/readyz", readyz),
    web.get("/metrics", metrics),
    web.get("/api/v1/openapi.json", openapi),
    web.get("/api/v1/units", units),
    web.get("/api/v1/reports/{kind}", report),
    web.get("/api/v1/units/{unit_id}/track", unit_track),
    web.get("/api/v1/cameras", cameras),
    web.get("/api/v1/cameras/{camera_id}/{kind:snapshot|reference}", camera_image),
    web.get("/api/v1/cells", cells),
    web.get("/api/v1/checkpoints", checkpoints),
    web.get("/api/v1/alerts", alerts),
    web.get("/api/v1/alerts/{alert_id}", alert_one),
    web.post("/api/v1/alerts/{alert_id}/{action:acknowledge|resolve}", alert_act),
    web.post("/api/v1/silences", silence),
    web.get("/api/v1/silences", silences),
    web.delete("/api/v1/silences/{silence_id}", unsilence),
    web.get("/api/v1/coverage", coverage),
    web.get("/api/v1/live", live_feed),
]
