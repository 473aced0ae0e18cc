"""`pingan alerts`: run the alert service, or work the alerts as an operator (list, show,
ack, resolve, silence); and how `pingan run` builds the service."""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from .config import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("alerts", help="run the alert service, or list, show, acknowledge, resolve and silence alerts",
                       description="Without an action: run the alert service alone (it reads the live feed the "
                                   "ingest workers write to Redis; `pingan run` runs it too). With one: work the "
                                   "alerts as an operator.")
    p.add_argument("--period", nargs=2, type=float, metavar=("FROM", "TO"),
                   help="judge coverage gaps over this period (epoch seconds: a replayed scenario) instead of the "
                        "city's days; on stop, the period is closed")
    p.add_argument("--consumer", default="alerts-1",
                   help="this service's name in the live feed's consumer group (a restart with the same name "
                        "re-reads what it had taken and not acknowledged)")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    q = acts.add_parser("list", help="alerts, newest first (default: those not resolved)")
    q.add_argument("--state", choices=["active", "open", "acknowledged", "resolved", "all"], default="active")
    q.add_argument("--type", help="only this alert type")
    q.add_argument("--subject", help="only this subject (camera, unit, cell, checkpoint …)")
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    q = acts.add_parser("show", help="one alert and its history")
    q.add_argument("alert", help="its id, or a unique prefix of it")
    q.add_argument("--json", action="store_true")
    for name, what in (("ack", "acknowledge: someone is on it (stops escalation)"), ("resolve", "close it by hand")):
        q = acts.add_parser(name, help=what)
        q.add_argument("alert", nargs="+", help="ids or unique prefixes")
        q.add_argument("--by", default=None, help="who (default: the login name)")
        q.add_argument("--note", help="why, what was done")
    q = acts.add_parser("silence", help="a maintenance window: record, but do not notify",
                        description="Silence a subject (a camera, unit, checkpoint, cell, street or district, or "
                                    "'ingest'), an area (a cell, street or district: everything in it) or an alert "
                                    "type, from now for 60 s to 30 days. Alerts still open and are stored; while the "
                                    "silence runs, their notifications (opening, escalation, resolve) are held back "
                                    "and the alert's history says so. The target must exist in the registry.")
    q.add_argument("kind", choices=["subject", "area", "type"])
    q.add_argument("target", help="the camera/unit/cell id, the street/district id, or the alert type")
    q.add_argument("--for", dest="duration", required=True, metavar="DURATION",
                   help="with its unit: 90s, 30m, 4h, 2d")
    q.add_argument("--why", required=True, help="the reason (for the record)")
    q.add_argument("--by", default=None, help="who (default: the login name)")
    acts.add_parser("silences", help="silences running now")
    q = acts.add_parser("unsilence", help="end a running silence now")
    q.add_argument("silence", help="its id, or a unique prefix of it")
    q.add_argument("--by", default=None, help="who (default: the login name)")
    q = acts.add_parser("accept-view", help="a camera's newest snapshot becomes its reference view",
                        description="After a camera was moved or turned on purpose (or its view changed for good): "
                                    "its newest stored snapshot becomes the reference it is judged against in that "
                                    "light (day, infrared or night), and its scene-change alert clears with the "
                                    "next snapshot.")
    q.add_argument("camera", help="the camera id")
    q.add_argument("--by", default=None, help="who (default: the login name)")


def add_diagnose_parser(sub) -> None:
    p = sub.add_parser("diagnose", help="image diagnostics of a camera snapshot (blur, dark, frozen …)",
                       description="Measure a JPEG snapshot as the alert service does and name its faults: blur, "
                                   "dark, overexposed, occluded, colour cast, noise, signal loss, stripes; frozen "
                                   "against --previous (the same frame sent again); scene change and PTZ drift "
                                   "against --reference (the camera's view in the same light, which also sharpens "
                                   "the rest). Thresholds from alerts/vqd_thresholds.json (bench/calibrate_vqd.py). "
                                   "Exit 0 healthy, 1 faulty, 2 unreadable.")
    p.add_argument("image", help="the snapshot (JPEG)")
    p.add_argument("--previous", metavar="P", help="the camera's previous snapshot")
    p.add_argument("--reference", metavar="R", help="the camera's reference view")
    p.add_argument("--json", action="store_true")


def cmd_diagnose(args) -> int:
    from pathlib import Path

    from alerts.image import diagnose

    try:
        read = [None if p is None else Path(p).read_bytes() for p in (args.image, args.previous, args.reference)]
        d = diagnose(*read)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"faults": sorted(d.faults), "scores": d.scores}, indent=1))
    else:
        print(f"{args.image}: {', '.join(sorted(d.faults)) or 'healthy'}")
        for k, v in d.scores.items():
            print(f"  {k:<15} {v}")
    return 1 if d.faults else 0


def cmd_alerts(settings: Settings, args, db_url: str, serve) -> int:
    from alerts import actions
    from store import alerts as store

    if args.action is None:
        return serve()
    from .services import operator_connection

    conn = operator_connection(settings.database.connect_timeout_s, db_url)
    if conn is None:
        return 2
    tz = ZoneInfo(settings.coverage.timezone)
    who = getattr(args, "by", None) or getpass.getuser()
    with conn:
        try:
            if args.action == "list":
                if args.type is not None:
                    actions.alert_type(args.type)
                rows = store.find(conn, state=None if args.state == "all" else args.state, type=args.type,
                                  subject=args.subject, limit=args.limit)
                print(json.dumps(rows, ensure_ascii=False, indent=1, default=str) if args.json else _table(rows, tz))
            elif args.action == "show":
                alert, events = store.get(conn, args.alert)
                print(json.dumps({**alert, "events": events}, ensure_ascii=False, indent=1, default=str) if args.json
                      else _show(alert, events, tz))
            elif args.action in ("ack", "resolve"):
                for ref in args.alert:
                    alert, done = actions.act(conn, "acknowledge" if args.action == "ack" else "resolve", ref, who,
                                              args.note)
                    word = "acknowledged" if args.action == "ack" else "resolved"
                    print(f"{alert['alert_id'][:8]} {alert['type']} {alert['subject']}: "
                          f"{word} by {who}" if done else f"{alert['alert_id'][:8]}: already {alert['state']}")
            elif args.action == "silence":
                seconds = actions.duration(args.duration)
                now = time.time()
                s = actions.silence(conn, actions.Names.load(conn, now), args.kind, args.target, seconds, who,
                                    args.why, now)
                print(f"silence {s['silence_id'][:8]}: {args.kind} {args.target} until "
                      f"{datetime.fromtimestamp(s['ends'], tz):%Y-%m-%d %H:%M} ({who}: {s['why']})")
            elif args.action == "unsilence":
                s = actions.end_silence(conn, args.silence, who, time.time())
                print(f"silence {s['silence_id'][:8]} ({s['kind']} {s['target']}) ended by {who}")
            elif args.action == "accept-view":
                from alerts.image import snapshot_light

                shot = store.latest_snapshot(conn, args.camera)
                if shot is None:
                    raise ValueError(f"no snapshot of camera {args.camera!r} is stored")
                light = snapshot_light(shot[1])
                store.save_reference(conn, args.camera, light, shot[1], shot[0], who, replace=True)
                print(f"{args.camera}: its reference view in {light} light is now its snapshot of "
                      f"{datetime.fromtimestamp(shot[0], tz):%Y-%m-%d %H:%M:%S} (accepted by {who})")
            elif args.action == "silences":
                for s in store.silences(conn, time.time()):
                    print(f"{s['silence_id'][:8]} {s['kind']:<8} {s['target']:<16} until "
                          f"{datetime.fromtimestamp(s['ends'], tz):%Y-%m-%d %H:%M}  {s['who']}: {s['why']}")
        except (store.AlertNotFound, actions.ActionError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except psycopg.errors.UndefinedTable:
            print("error: the database has no alert tables: run `pingan migrate`", file=sys.stderr)
            return 2
    return 0


def _when(t: float | None, tz: ZoneInfo) -> str:
    return "—" if t is None else datetime.fromtimestamp(t, tz).strftime("%m-%d %H:%M:%S")


def _table(rows: list[dict[str, Any]], tz: ZoneInfo) -> str:
    if not rows:
        return "no alerts"
    lines = [f"{'id':<8} {'opened':<14} {'severity':<8} {'state':<12} {'type':<24} subject"]
    for r in rows:
        mark = " (silenced)" if r["silence_id"] else ""
        lines.append(f"{r['alert_id'][:8]} {_when(r['opened_at'], tz):<14} {r['severity']:<8} {r['state']:<12} "
                     f"{r['type']:<24} {r['subject']}{mark}")
    return "\n".join(lines)


def _show(a: dict[str, Any], events: list[dict[str, Any]], tz: ZoneInfo) -> str:
    lines = [f"alert {a['alert_id']}", f"  {a['type']} on {a['subject']}: {a['severity']}, {a['state']}",
             f"  holds since {_when(a['since'], tz)}, opened {_when(a['opened_at'], tz)}",
             f"  where: {json.dumps(a['scope'], ensure_ascii=False)}",
             f"  detail: {json.dumps(a['detail'], ensure_ascii=False)}"]
    if a["silence_id"]:
        lines.append(f"  silenced by {a['silence_id']}")
    lines.append("  history:")
    for e in events:
        note = f" — {e['note']}" if e["note"] else ""
        lines.append(f"    {_when(e['ts'], tz)} {e['action']:<12} by {e['actor']}{note}")
    return "\n".join(lines)


def build_service(settings: Settings, db_url: str, client, address, *, period=None, consumer: str = "alerts-1"):
    """The alert service with its notifiers (MQTT on the given broker, the Redis stream, webhooks)."""
    from alerts.image import diagnose
    from alerts.notify import Dispatcher, MqttNotifier, StreamNotifier, WebhookNotifier
    from alerts.service import AlertService
    from store.records import ALERT_STREAM

    from .coverage import standards
    from .services import connector

    s = settings.alerts
    notifiers: list = [StreamNotifier(client, ALERT_STREAM)]
    if s.mqtt and address is not None:
        notifiers.append(MqttNotifier(address.host, address.port, address.username, address.password,
                                      client_id=f"pingan-{consumer}"))
    notifiers += [WebhookNotifier(h) for h in s.webhooks]
    return AlertService(s, standards(settings.coverage), connector(db_url, settings.database.connect_timeout_s,
                                                                   f"pingan-{consumer}"),
                        client, Dispatcher(notifiers, s.group_window_s, group_by=s.group_by), consumer=consumer, period=period,
                        diagnose=diagnose, team_minimum=settings.coverage.team_minimum)
