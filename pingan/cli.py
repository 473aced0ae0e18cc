"""``pingan``: the command line, and the one place where the parts are put together."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from . import access, alerting, imports, logs, reports
from .config import ConfigError, Settings, load_settings, load_settings_leniently

log = logging.getLogger("pingan")

EPILOG = """\
settings: PINGAN_CONFIG names a TOML file; PINGAN_MQTT_URL, PINGAN_DATABASE_URL and
PINGAN_REDIS_URL point at real services (unset: an in-process broker, an embedded PostgreSQL
and an in-process Redis); any other key as PINGAN_<SECTION>__<KEY>. Run `pingan check` to
see every problem in a configuration at once.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pingan",
        description="Pingan (平安): patrol-and-surveillance command centre backend. Ingests camera health, "
                    "snapshots, patrol GPS and checkpoint check-ins from MQTT into PostgreSQL/TimescaleDB "
                    "with live state in Redis.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the whole service: ingest, alerts and the HTTP API",
                       description="Run the service. With no settings it runs on embedded defaults and the demo "
                                   "city; --simulate demo feeds it live demo traffic.")
    p.add_argument("--simulate", metavar="SCENARIO",
                   help="publish a scenario's traffic too: demo (live), small, clean, outage, or a .toml file; a "
                        "scenario runs on its own generated city and ends by comparing with its ground truth")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--status-every", type=float, default=5.0, metavar="SECONDS", help="status line interval")
    p.add_argument("--compare-out", metavar="FILE",
                   help="with a scenario: write the comparison with its ground truth here as JSON")

    p = sub.add_parser("ingest", help="run one ingest worker alone (scale out: start several)",
                       description="One ingest worker. Workers share the load through the MQTT shared "
                                   "subscription group mqtt.share_group; give each its own mqtt.client_id. "
                                   "Reads the grid and registry from the database (run `pingan migrate` first).")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    p.add_argument("--status-every", type=float, default=10.0, metavar="SECONDS")

    p = sub.add_parser("migrate", help="create or upgrade the database schema and load the grid and registry",
                       description="Apply pending migrations (idempotent; TimescaleDB features when the server "
                                   "preloads it, plain PostgreSQL otherwise: database.timescaledb) and load the "
                                   "configured grid, cameras, checkpoints and units. A grid or registry that differs "
                                   "from the one loaded before becomes a new version, in force from now (or "
                                   "--effective); past periods keep being assessed on the version in force then.")
    p.add_argument("--effective", metavar="TIME",
                   help="when a changed grid or registry takes effect (default: now; not before the last version)")
    p = sub.add_parser("sweep", help="store camera uptime per hour and coverage per day as they close",
                       description="What `pingan run` does beside its ingest, for a deployment of `pingan ingest` "
                                   "workers: every 10 minutes, store the last closed hours of every camera's uptime "
                                   "and the last closed days of every cell's coverage that are missing or stale "
                                   "(late data), so that reports over quarters and years read stored results.")
    p.add_argument("--once", action="store_true", help="one sweep, then exit")
    sub.add_parser("check", help="validate the configuration, grid and registry; print every problem",
                   description="Exit 0 when everything is valid, 1 with one line per problem otherwise.")

    p = sub.add_parser("coverage", help="defence-system coverage of a period, rolled up to a level",
                       description="Per grid cell: patrol visits against the revisit standard, key-location "
                                   "camera uptime by time and checkpoint staffing; rolled up to the level asked "
                                   "for, against the 90% target. Where data is missing (a silent unit, the ingest "
                                   "not receiving) the figures say unknown, never covered. A period of at most 24 h "
                                   "is assessed as one piece; a longer one day by day (stored days are reused), "
                                   "its coverage being the covered share of cell-days.",
                       epilog="TIME: now, today, yesterday, -24h, -7d, 2026-11-20, 2026-11-20T08:00 (without an "
                              "offset: the city's time zone, coverage.timezone)")
    p.add_argument("--from", dest="start", required=True, metavar="TIME", help="e.g. yesterday, -24h, 2026-11-20T08:00")
    p.add_argument("--to", dest="end", default="now", metavar="TIME", help="default: now")
    p.add_argument("--level", choices=["city", "district", "street", "grid"], default="district")
    p.add_argument("--by", choices=["count", "area"], default="count", help="weigh cells by count or by area")
    p.add_argument("--json", action="store_true",
                   help="print JSON (areas and every cell with why it has its status; times RFC 3339)")
    p.add_argument("--explain", action="store_true",
                   help="after the table, every cell with why: its patrol gap, key cameras and checkpoints")

    reports.add_parser(sub)
    alerting.add_parser(sub)
    alerting.add_diagnose_parser(sub)
    access.add_parser(sub)
    imports.add_parser(sub)

    p = sub.add_parser("simulate", help="publish a scenario's traffic to PINGAN_MQTT_URL (or a local `pingan run`)",
                       description="Publish a scenario (a built-in name or a TOML file) and write its ground "
                                   "truth. The broker's ingest must know the scenario's city: --city writes its "
                                   "grid, cameras, checkpoints and a pingan.toml naming them.")
    p.add_argument("scenario", help="demo (live demo traffic), a built-in scenario (small, clean, outage) or a .toml file")
    p.add_argument("--duration", type=float, default=60.0, metavar="SECONDS", help="demo only: how long")
    p.add_argument("--truth", metavar="FILE", help="write the ground truth here (default: NAME.truth.json)")
    p.add_argument("--city", metavar="DIR", help="write the scenario's city here (GeoJSON + pingan.toml)")
    p.add_argument("--fast", action="store_true", help="publish as fast as the broker takes it, not paced")
    p.add_argument("--load", type=float, metavar="MSG_PER_S", help="load mode: publish at this rate, over and over")
    p.add_argument("--processes", type=int, default=2, help="load mode: publishing processes")
    p.add_argument("--seconds", type=float, default=30.0, help="load mode: how long")

    args = parser.parse_args(_relative_times(sys.argv[1:] if argv is None else argv))
    if args.verb == "diagnose":  # a file on its own: no settings, no services
        return alerting.cmd_diagnose(args)
    if args.verb == "check":  # everything at once: the configuration, the files, the grid, the registry
        settings, problems = load_settings_leniently()
        logs.setup(settings.log.level, settings.log.format)
        return cmd_check(settings, args, [str(p) for p in problems])
    try:
        settings = load_settings()
    except ConfigError as e:
        print("configuration problems:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1 if args.verb == "check" else 2
    logs.setup(settings.log.level, settings.log.format)
    from .services import ServiceError

    try:
        return VERBS[args.verb](settings, args)
    except ServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _relative_times(argv: list[str]) -> list[str]:
    """`--from -24h` as `--from=-24h`: argparse would take -24h for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in ("--from", "--to", "--effective") and i + 1 < len(argv) and re.match(r"^-\d", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


# -- verbs -------------------------------------------------------------------------------------
def cmd_check(settings: Settings, args, config_problems: list[str] = ()) -> int:
    from .services import load_registry

    registry, found = load_registry(settings)
    warnings = registry.warnings if registry else [p for p in found if p.warning]
    problems = [*config_problems, *(str(p) for p in found if not p.warning)]
    for w in warnings:
        print(f"warning: {w}")
    if problems:
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    g = registry.grid
    print(f"ok: {len(g.cells)} grid features ({len(g.leaves)} cells), {len(registry.cameras)} cameras, "
          f"{len(registry.checkpoints)} checkpoints, {len(registry.units)} units"
          + (" — demo city (grid.path not set)" if settings.demo else ""))
    return 0


def cmd_migrate(settings: Settings, args) -> int:
    effective = None
    if args.effective:
        from assessment.periods import PeriodError, parse_time

        try:
            effective = parse_time(args.effective, settings.coverage.timezone, time.time())
        except PeriodError as e:
            print(f"error: --effective: {e}", file=sys.stderr)
            return 2
    done = _migrate_and_sync(settings, _database(settings), effective=effective)
    if done is None:
        return 1
    report, version = done
    print(f"schema up to date ({'TimescaleDB' if report.timescale else 'plain PostgreSQL'}); "
          f"applied: {', '.join(report.applied) or 'nothing new'}")
    if version is not None:
        print(_version_line(version, settings.coverage.timezone))
    return 0


def _version_line(v, tz: str) -> str:
    from assessment.periods import rfc3339

    if not v.changed:
        return f"grid and registry unchanged (version {v.version})"
    if v.previous is None:
        return f"grid and registry loaded as version {v.version}"
    return (f"grid or registry changed: version {v.version} is in force from {rfc3339(v.effective_from, tz)}; "
            f"periods before that are still assessed on version {v.previous}")


def cmd_run(settings: Settings, args) -> int:
    return _serve(settings, args, sync_registry=True)


def cmd_ingest(settings: Settings, args) -> int:
    return _serve(settings, args, sync_registry=False)


def cmd_simulate(settings: Settings, args) -> int:
    from ingest.mqtt import BrokerAddress

    if settings.mqtt.url is None:  # the in-process broker of a `pingan run` on this machine
        settings = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={
            "url": f"mqtt://127.0.0.1:{settings.mqtt.embedded_port}", "protocol": "3.1.1"})})
    address = BrokerAddress.parse(settings.mqtt.url)
    try:
        socket.create_connection((address.host, address.port), timeout=3).close()
    except OSError:
        print(f"error: no broker at {address.host}:{address.port}: set PINGAN_MQTT_URL, or start `pingan run` "
              "(its in-process broker listens there)", file=sys.stderr)
        return 2
    if args.scenario == "demo":
        traffic = _traffic(args.scenario, address, settings)
        traffic.start()
        _stop_event().wait(args.duration)
        traffic.stop()
        print(f"published {traffic.published} messages")
        return 0
    from simulators.publish import publish, publish_load
    from simulators.scenario import ScenarioError

    try:
        sim = _simulation(args.scenario, settings)
    except ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.city:
        print(f"city written: {sim.city.write(Path(args.city))}")
    truth = Path(args.truth or f"{sim.scenario.name}.truth.json")
    sim.write_truth(truth)
    print(f"ground truth written: {truth}")
    broker = _broker(address, settings)
    if args.load:
        report = publish_load(sim.messages, broker, args.load, args.processes, args.seconds)
        print(f"load: target {args.load:,.0f} msg/s from {args.processes} processes; reached {report.rate:,.0f} msg/s "
              f"({report.messages} messages in {report.seconds:.1f} s)")
        return 0
    report = publish(sim.messages, broker, None if args.fast else sim.scenario.acceleration)
    print(f"published {report.messages} messages in {report.seconds:.1f} s ({report.rate:,.0f} msg/s)")
    if report.undelivered:
        print(f"warning: {report.undelivered} messages reached no subscriber even after a minute of retries: is an "
              "ingest worker subscribed to this broker?", file=sys.stderr)
    return 0


def _simulation(name: str, settings: Settings):
    from simulators.scenario import Scenario, run

    log.info("generating scenario %s and its ground truth", name)
    return run(Scenario.load(name), _truth_standard(settings))


def _truth_standard(settings: Settings):
    """The standards as the simulators' ground truth takes them: plain numbers."""
    from alerts.types import AlertType
    from simulators.truth import TruthStandard

    c, a = settings.coverage, settings.alerts
    return TruthStandard(image_confirm=a.image_confirm, understaffed_for_s=a.hold_for(AlertType.CHECKPOINT_UNDERSTAFFED),
                         out_of_area_for_s=a.hold_for(AlertType.UNIT_OUT_OF_AREA), team_minimum=c.team_minimum,
                         team_shifts=a.team_shifts,
                         max_gap_s=c.max_gap_s, min_dwell_s={"foot": c.min_dwell_foot_s, "bike": c.min_dwell_bike_s,
                                                              "car": c.min_dwell_car_s},
                         revisit_key_minutes=c.revisit_key_minutes, revisit_normal_minutes=c.revisit_normal_minutes,
                         active_from=c.active_from, active_to=c.active_to, timezone=c.timezone,
                         min_camera_uptime=c.min_camera_uptime, min_checkpoint_compliance=c.min_checkpoint_compliance)


def _broker(address, settings: Settings):
    from simulators.publish import Broker

    return Broker(address.host, address.port, address.username, address.password, settings.mqtt.protocol == "5")


def cmd_coverage(settings: Settings, args) -> int:
    from assessment.defence import CoverageError
    from geofence.grid import Level

    from .coverage import assessed, render_json, render_table, standards

    level = Level(args.level)
    try:
        with assessed(_database(settings), args.start, args.end, standards(settings.coverage),
                      progress=True) as (assessor, result):
            print(render_json(assessor, result, level, args.by) if args.json
                  else render_table(assessor, result, level, args.by, args.explain))
    except CoverageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_report(settings: Settings, args) -> int:
    from .coverage import standards

    return reports.run(settings, args, _database(settings), standards(settings.coverage))


def cmd_sweep(settings: Settings, args) -> int:
    db_url = _database(settings)
    try:
        with psycopg.connect(db_url, connect_timeout=max(1, int(settings.database.connect_timeout_s))) as conn:
            from store.migrate import uses_timescale

            timescale = uses_timescale(conn)
    except psycopg.errors.UndefinedTable:
        print("error: the database has no Pingan schema: run `pingan migrate`", file=sys.stderr)
        return 2
    except psycopg.OperationalError as e:
        print(f"error: cannot reach the database: {e}", file=sys.stderr)
        return 2
    if args.once:
        from assessment.service import Sweeper

        from .coverage import standards

        with psycopg.connect(db_url) as conn:
            hours, days = Sweeper(lambda: conn, standards(settings.coverage), timescale=timescale,
                                  rules=_report_rules(settings)).sweep(conn)
        print(f"camera uptime of the last {hours} closed hours stored; {days} day(s) assessed and stored")
        return 0
    sweeper = _sweeper(settings, db_url, timescale, first_after_s=0.0)
    _stop_event().wait()
    sweeper.stop()
    return 0


def cmd_alerts(settings: Settings, args) -> int:
    return alerting.cmd_alerts(settings, args, _database(settings), lambda: _serve_alerts(settings, args))


def _alone(settings: Settings, what: str):
    """For a part run alone beside `pingan ingest` workers, which needs their Redis: the broker's
    address (or None), or False after saying what is missing."""
    if settings.redis.url is None:
        print(f"error: {what} alone works from what the ingest workers keep in Redis: set PINGAN_REDIS_URL "
              "(`pingan run` runs it with its own ingest)", file=sys.stderr)
        return False
    from ingest.mqtt import BrokerAddress

    return BrokerAddress.parse(settings.mqtt.url) if settings.mqtt.url else None


def _say_unreceived(settings: Settings, period: tuple[float, float]) -> None:
    """A replayed period is judged only where it was received: say so, with the fix, when not all was."""
    import psycopg

    from .imports import unreceived

    try:
        with psycopg.connect(_database(settings), connect_timeout=max(1, int(settings.database.connect_timeout_s))) as c:
            said = unreceived(c, period[0], period[1], settings.coverage.timezone)
    except psycopg.Error:
        return  # (the service says what is wrong with the database)
    if said:
        log.warning(said)


def _serve_alerts(settings: Settings, args) -> int:
    """The alert service alone."""
    address = _alone(settings, "the alert service")
    if address is False:
        return 2
    from .services import redis_client

    period = tuple(args.period) if args.period else None
    if period is not None:
        _say_unreceived(settings, period)
    service = alerting.build_service(settings, _database(settings), redis_client(settings.redis.url), address,
                                     period=period, consumer=args.consumer)
    service.start()
    stop = _stop_event()
    while not stop.wait(10) and service.running:
        st = service.stats
        log.info("alerts: %d feed entries, %d opened, %d resolved, %d escalated", st.entries, st.opened, st.resolved,
                 st.escalated)
    service.finish(until=period[1] if period else None)
    service.dispatcher.close()
    if service.failure:
        raise service.failure
    return 0


def cmd_token(settings: Settings, args) -> int:
    return access.cmd_token(settings, args, _database(settings))


def cmd_import(settings: Settings, args) -> int:
    return imports.cmd_import(settings, args, _database(settings))


def cmd_api(settings: Settings, args) -> int:
    """The API alone."""
    address = _alone(settings, "the API")
    if address is False:
        return 2
    with contextlib.ExitStack() as stack:
        if _api(settings, _database(settings), address, stack, announce=False) is None:
            return 2
        _stop_event().wait(args.duration)
    return 0


VERBS = {"run": cmd_run, "ingest": cmd_ingest, "migrate": cmd_migrate, "check": cmd_check,
         "coverage": cmd_coverage, "simulate": cmd_simulate, "sweep": cmd_sweep, "alerts": cmd_alerts,
         "token": cmd_token, "api": cmd_api, "report": cmd_report, "import": cmd_import}


# -- composition -------------------------------------------------------------------------------
def _database(settings: Settings) -> str:
    if settings.database.url:
        return settings.database.url
    from .services import embedded_database

    return embedded_database(settings.database.data_dir)


def _migrate_and_sync(settings: Settings, db_url: str, sync_registry: bool = True, effective: float | None = None):
    """Migrate, and load the configured grid and registry; (migration report, version report or
    None), or None after logging why not."""
    from store.migrate import MigrationError, migrate
    from store.registry import RegistryError, sync

    from .services import load_registry

    registry = None
    if sync_registry:
        registry, problems = load_registry(settings)
        if problems:
            for p in problems:
                (log.warning if p.warning else log.error)("%s", p)
            return None
        for w in registry.warnings:
            log.warning("%s", w)
    db = settings.database
    with psycopg.connect(db_url, connect_timeout=max(1, int(db.connect_timeout_s))) as conn:
        try:
            report = migrate(conn, compress_after_days=db.compress_after_days, retain_days=db.retain_days,
                             timescaledb=db.timescaledb, timezone=settings.coverage.timezone)
        except MigrationError as e:
            log.error("%s", e)
            return None
        version = None
        if registry is not None:
            conn.autocommit = False
            source = str(settings.grid.path or "demo city")
            try:
                version = sync(conn, registry.grid, registry.cameras, registry.checkpoints, registry.units, source,
                               effective)
            except RegistryError as e:
                log.error("%s", e)
                return None
            conn.commit()
    return report, version


def _traffic(scenario: str, address, settings: Settings, sim=None):
    """The demo's live traffic, or a generated scenario's messages paced by its acceleration."""
    if scenario == "demo":
        from simulators.demo import DemoTraffic

        return DemoTraffic(address.host, address.port, username=address.username, password=address.password)
    from simulators.publish import ScenarioTraffic

    return ScenarioTraffic(sim.messages, _broker(address, settings), sim.scenario.acceleration)


def _scenario_settings(settings: Settings, sim) -> Settings:
    """Settings whose grid and registry are the scenario's generated city."""
    from .config import GridSettings, RegistrySettings, UnitSpec

    folder = settings.database.data_dir.parent / "scenarios" / sim.scenario.name
    sim.city.write(folder)
    sim.write_truth(folder / "truth.json")
    log.info("scenario %s: city and ground truth in %s", sim.scenario.name, folder)
    units = tuple(UnitSpec(id=u.id, kind=u.kind, team=u.team) for u in sim.city.units)
    return settings.model_copy(update={
        "grid": GridSettings(path=folder / "grid.geojson"),
        "registry": RegistrySettings(cameras=folder / "cameras.geojson", checkpoints=folder / "checkpoints.geojson",
                                     units=units),
        "ingest": settings.ingest.model_copy(update={"auto_register": False})})


def _api(settings: Settings, db_url: str, address, stack: contextlib.ExitStack, announce: bool = True):
    """The HTTP API and dashboard on a thread of this process, with an admin token for this run
    (revoked when it stops); None after saying why it could not start."""
    from api import tokens
    from api.app import ApiConfig
    from api.server import ApiServer

    from .coverage import standards
    from .services import async_redis_client, redis_client

    url = settings.redis.url
    config = ApiConfig(db_url, url, standards(settings.coverage), settings.api,
                       broker=address,
                       redis_client=lambda: async_redis_client(url), redis_sync=lambda: redis_client(url),
                       team_shifts=tuple(settings.alerts.team_shifts), team_minimum=settings.coverage.team_minimum)
    try:
        server = ApiServer(config).start()
    except RuntimeError as e:
        print(f"error: the HTTP API cannot listen on {settings.api.host}:{settings.api.port} ({e}): set api.port "
              "(PINGAN_API__PORT; 0 takes any free port)", file=sys.stderr)
        return None
    stack.callback(server.stop)
    if announce:
        with psycopg.connect(db_url) as conn:
            text = tokens.create(conn, "pingan run", "admin", [], "pingan run")
        token_id = tokens.parse(text)[0]

        def revoke() -> None:
            with psycopg.connect(db_url) as conn:
                tokens.revoke(conn, token_id)

        stack.callback(revoke)
        print(f"Command centre: {server.url}/  (API {server.url}/api/v1/, token for this run, admin: {text})",
              flush=True)
    return server


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@dataclass
class _Progress:
    t: float
    messages: int


def _serve(settings: Settings, args, *, sync_registry: bool) -> int:
    """`run` (sync_registry) or `ingest`: the worker, and for `run` the assessment sweeper and a
    simulation if asked for; status lines until stopped, then a summary."""
    simulate = getattr(args, "simulate", None)
    sim = None
    if simulate and simulate != "demo":
        from simulators.scenario import ScenarioError

        try:
            sim = _simulation(simulate, settings)
        except ScenarioError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        settings = _scenario_settings(settings, sim)
    elif simulate == "demo" and not settings.ingest.auto_register:
        log.warning("the live demo turns on ingest.auto_register: devices it has not heard of are registered "
                    "instead of rejected")
        settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"auto_register": True})})
    with contextlib.ExitStack() as stack:
        db_url = _database(settings)
        if sim is not None and settings.database.url is None:
            from .services import fresh_database

            db_url = fresh_database(db_url, f"pingan_scenario_{sim.scenario.name}")
            log.info("scenario %s replays into a fresh embedded database", sim.scenario.name)
        done = _migrate_and_sync(settings, db_url, sync_registry)
        if done is None:
            return 1
        if done[1] is not None and done[1].changed and done[1].previous is not None:
            log.warning("%s", _version_line(done[1], settings.coverage.timezone))
        if sim is not None:  # a replay imports history: the ingest was not running then, the data arrives now
            from store.results import declare_received

            with psycopg.connect(db_url) as conn:
                declare_received(conn, sim.scenario.name, sim.received, source="replay")
        running = _Running.start(settings, db_url, stack)
        service = None
        if sync_registry:
            period, alert_settings = None, settings
            if sim is not None:
                period = (sim.scenario.start.timestamp(), sim.scenario.start.timestamp() + sim.scenario.duration_s)
                # a replay compresses time: late data are as late in wall seconds as live, so the
                # allowance for them (in event time) grows with the acceleration
                lateness = max(settings.alerts.lateness_s, 2.0 * sim.scenario.acceleration)
                alert_settings = settings.model_copy(update={
                    "alerts": settings.alerts.model_copy(update={"lateness_s": lateness})})
            service = alerting.build_service(alert_settings, db_url, running.hot.client, running.address,
                                             period=period)
            service.start()
            stack.callback(service.dispatcher.close)
            stack.callback(service.stop)
            served = _api(settings, db_url, running.address, stack)
            if served is None:
                return 2
        if sync_registry and sim is None:
            stack.callback(_sweeper(settings, db_url, done[0].timescale).stop)
        traffic = None
        if simulate:
            if not running.worker.ready.wait(60) or not running.source.wait_connected(30):
                log.error("worker did not come up; not starting the simulation")
            else:
                traffic = _traffic(simulate, running.address, settings, sim)
                traffic.start()
                stack.callback(traffic.stop)
        last = _watch(running, args, traffic if sim is not None else None)
        if traffic is not None:
            traffic.stop()
            time.sleep(1.0)  # let the last published messages arrive
        code = running.finish()
        if code:
            return code
        if service is not None:
            service.finish(until=period[1] if sim is not None else None)
            if service.failure:
                raise service.failure
        _status(running.worker, last)
        _summary(running.worker, db_url, settings, running.hot)
        if service is not None:
            st = service.stats
            print(f"Alerts: {st.opened} opened, {st.resolved} resolved, {st.escalated} escalated (table pingan.alert; "
                  "`pingan alerts list` on a database you keep).")
        if sim is not None:
            _compare_with_truth(sim, db_url, settings, Path(args.compare_out) if args.compare_out else None)
    return 0


@dataclass
class _Running:
    """The ingest worker in a thread of its own, with the broker it listens to."""

    worker: object
    source: object
    hot: object
    address: object
    thread: threading.Thread
    failure: list

    @classmethod
    def start(cls, settings: Settings, db_url: str, stack: contextlib.ExitStack) -> "_Running":
        from ingest.hotstate import HotState
        from ingest.mqtt import BrokerAddress, MqttSource
        from ingest.worker import IngestWorker

        from .services import EmbeddedBroker, connector, redis_client

        mqtt_url = settings.mqtt.url
        if mqtt_url is None:
            broker = EmbeddedBroker(settings.mqtt.embedded_port)
            mqtt_url = broker.start()
            stack.callback(broker.stop)
        if settings.metrics.port:
            from prometheus_client import start_http_server

            start_http_server(settings.metrics.port)
            log.info("Prometheus metrics on :%d/metrics", settings.metrics.port)
        address = BrokerAddress.parse(mqtt_url)
        source = MqttSource(settings.mqtt, address, settings.ingest.max_pending_messages,
                            settings.log.level, settings.log.format, logs.setup)
        hot = HotState(redis_client(settings.redis.url), settings.redis.retry_s, feed_maxlen=settings.ingest.feed_maxlen)
        worker = IngestWorker(settings, source,
                              connector(db_url, settings.database.connect_timeout_s, settings.mqtt.client_id), hot)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                worker.run()
            except BaseException as e:  # reported by finish(), after the other parts are stopped
                failure.append(e)

        thread = threading.Thread(target=work, name="ingest", daemon=True)
        thread.start()
        return cls(worker, source, hot, address, thread, failure)

    def finish(self) -> int:
        """Stop the worker; 3 when the broker refused its credentials."""
        from ingest.mqtt import BrokerAuthError

        self.worker.stop()
        self.thread.join(60)
        if self.failure:
            if isinstance(self.failure[0], BrokerAuthError):
                print(f"error: {self.failure[0]}", file=sys.stderr)
                return 3
            raise self.failure[0]
        return 0


def _watch(running: _Running, args, scenario_traffic) -> _Progress:
    """Status lines until Ctrl-C, the duration, or a scenario published in full."""
    stop = _stop_event()
    deadline = time.monotonic() + args.duration if args.duration else None
    last = _Progress(time.monotonic(), 0)
    while running.thread.is_alive() and not stop.is_set():
        timeout = args.status_every
        if deadline is not None:
            timeout = min(timeout, max(0.0, deadline - time.monotonic()))
        if stop.wait(timeout) or (deadline is not None and time.monotonic() >= deadline):
            break
        last = _status(running.worker, last)
        if scenario_traffic is not None and scenario_traffic.finished.is_set() and deadline is None:
            break  # the scenario has been published: drain and finish
    return last


def _sweeper(settings: Settings, db_url: str, timescale: bool, first_after_s: float = 60.0):
    """Camera uptime per hour and coverage per day, stored as they close."""
    from assessment.service import Sweeper

    from .coverage import standards

    return Sweeper(lambda: psycopg.connect(db_url, connect_timeout=max(1, int(settings.database.connect_timeout_s))),
                   standards(settings.coverage), timescale=timescale, first_after_s=first_after_s,
                   rules=_report_rules(settings)).start()


def _report_rules(settings: Settings):
    """Team strength and response reach as the settings define them (the reach minutes: 5)."""
    from assessment.strength import Rules

    return Rules(tuple(settings.alerts.team_shifts), settings.coverage.team_minimum)


def _status(worker, last: _Progress) -> _Progress:
    now = time.monotonic()
    st = worker.stats
    rate = (st.messages - last.messages) / max(now - last.t, 1e-9)
    stored = ", ".join(f"{t}={n}" for t, n in sorted(st.stored.items())) or "nothing yet"
    rejected = ", ".join(f"{r}={n}" for r, n in sorted(st.rejected.items())) or "none"
    log.info("messages %d (%.0f/s) | stored %s | rejected %s", st.messages, rate, stored, rejected)
    return _Progress(now, st.messages)


def _compare_with_truth(sim, db_url: str, settings: Settings, out: Path | None) -> bool:
    """What the product computed from what it ingested, against the scenario's independent
    ground truth, part by part; True when every part agrees."""
    from assessment.defence import Assessor
    from simulators.truth import compare, score_alerts
    from store import alerts as alert_store

    from .coverage import standards, summary

    sc = sim.scenario
    start = sc.start.timestamp()
    end = start + sc.duration_s
    with psycopg.connect(db_url) as conn:
        assessor = Assessor(conn, standards(settings.coverage), store=False)
        result = assessor.period(start, end)
        verdict = compare(sim.truth["coverage"], summary(assessor, result))
        raised = alert_store.find(conn, state="all", since=start, until=end + 3600, limit=100_000)
    alerts = score_alerts(sim.truth["alerts"], raised)
    rejects = {r: n for r, n in sim.truth["rejects"].items()}
    print("Against the scenario's ground truth (worked out independently from the planned positions, "
          "down times and check-ins):")
    names = {"patrol": "patrol, per cell", "cameras": "key cameras, per cell", "checkpoints": "checkpoints, per cell",
             "cells": "cells (composite)", "camera_uptime": "key camera uptime", "checkpoint_compliance":
             "checkpoint staffing", "roll_ups": "roll-ups (street, district, city)"}
    ok = True
    for part, v in verdict.items():
        either = f" ({v['either']} where the truth allows either)" if v["either"] else ""
        print(f"  {names[part]:<36} {v['agree']} of {v['total']} agree{either}")
        for d in v["disagreements"][:5]:
            print(f"      {d['id']}: truth {d['truth']}, product {d['product']}")
        ok &= v["agree"] == v["total"]
    print(f"  alerts: precision {alerts['precision']:.3f}, recall {alerts['recall']:.3f} ({alerts['raised']} raised, "
          f"{alerts['expected']} expected, {alerts['optional']} where the truth allows either)")
    for kind in ("missed", "unexpected"):
        for d in alerts[kind][:8]:
            print(f"      {kind}: {d['type']} {d['subject']}")
    ok &= alerts["precision"] == 1.0 and alerts["recall"] == 1.0
    print(f"  expected rejects {rejects or 'none'}.")
    print("Every part agrees with the ground truth." if ok else "The product DISAGREES with the ground truth.")
    if not ok and settings.database.url is not None:
        print("(the comparison holds on a database with nothing else in the scenario's period: PINGAN_DATABASE_URL "
              "may hold other data of the same devices)")
    if out is not None:
        out.write_text(json.dumps({"scenario": sc.name, "agree": ok, **verdict, "alerts": alerts}, indent=1,
                                  ensure_ascii=False))
        print(f"comparison written: {out}")
    return ok


def _summary(worker, db_url: str, settings: Settings, hot) -> None:
    from ingest.hotstate import live_summary

    st = worker.stats
    print()
    print(f"Pingan ingested {st.messages} messages in {st.batches} batches.")
    for table, n in sorted(st.stored.items()):
        print(f"  stored   {table:<16} {n:>8}")
    for reason, n in sorted(st.rejected.items()):
        print(f"  rejected {reason:<16} {n:>8}  (see pingan.dead_letter)")
    if hot.available:
        live = live_summary(hot.client)
        print(f"Live state: {live['units']} units with a position, {live['cameras']} cameras reporting "
              f"({live['cameras_offline']} offline).")
    where = "embedded PostgreSQL" if settings.database.url is None else "PostgreSQL"
    print(f"Data is in {where}: psql '{db_url}' -c 'SELECT * FROM pingan.patrol_ping LIMIT 5'")


if __name__ == "__main__":
    sys.exit(main())
