"""The uptime report for camera-maintenance teams: per camera, street, district and category the
time-based availability against the SLA line, outages, mean time to repair, longest outage and
image faults by kind with their duration, worst first."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from assessment import maintenance
from assessment.defence import Assessor
from assessment.periods import rfc3339
from assessment.report import completeness
from geofence.coverage import CellStatus, verdict
from store.registry import versions_between

from . import charts
from .document import Headline, Report, Table

CAMERA_COLUMNS = (("camera_id", "camera 摄像机"), ("name", "name 名称"), ("category", "category 类别"),
                  ("key", "key location 重点"), ("district", "district 区"), ("street", "street 街道"),
                  ("availability", "availability 在线率"), ("unknown", "unknown 未知"), ("meets_sla", "SLA"),
                  ("outages", "outages 故障次数"), ("mttr_h", "MTTR (h) 平均修复时长"),
                  ("longest_outage_h", "longest outage (h) 最长故障"), ("image_faults", "image faults 图像故障"),
                  ("image_fault_h", "image faults (h) 图像故障时长"))
GROUP_COLUMNS = (("group_id", "id"), ("name", "name 名称"), ("cameras", "cameras 数量"),
                 ("availability", "availability 在线率"), ("unknown", "unknown 未知"), ("outages", "outages 故障次数"),
                 ("mttr_h", "MTTR (h)"), ("longest_outage_h", "longest outage (h)"), ("image_faults", "image faults"),
                 ("image_fault_h", "image faults (h)"))
PERCENT = frozenset({"availability", "unknown"})
METHODS = [
    "Availability: seconds up over seconds up + down, by the assessment's own rule (a heartbeat or an online status "
    "keeps a camera up until its next event; a silence longer than the missed heartbeats is an outage from the first "
    "missed heartbeat; an offline status or last will is down until heard again). Time the ingest was not receiving, "
    "or before a camera was first heard from, is unknown, shown beside it and counted neither up nor down.",
    "SLA: a key-location camera meets the line (default 95%) when it does even with every unknown second counted down, "
    "fails it when it does not even with every unknown second counted up, and is unknown in between; other cameras are "
    "listed without a verdict.",
    "Outages: down spells begun in the period. MTTR: down seconds over outages (a spell begun before the period adds "
    "its down time without being counted). Longest outage: the longest run of stored hours each with down time, "
    "their down seconds summed.",
    "Image faults: the camera's image alerts (blur, dark, occluded, colour cast, frozen, noise, signal loss, scene "
    "change, overexposed) overlapping the period, for the time they overlap (an open one: up to the period's end).",
    "Streets, districts and categories: the sums of their cameras' seconds, outages and faults.",
]


def _h(s: float | None) -> float | None:
    return None if s is None else round(s / 3600, 2)


def _faults(f: dict) -> tuple[str, float]:
    text = ", ".join(f"{k} {int(n)}" for k, (n, _) in sorted(f.items()))
    return text, round(sum(s for _, s in f.values()) / 3600, 2)


def build(a: Assessor, start: float, end: float, label: str, now: float, sla: float, *, charts_too: bool = True,
          notes: list[str] | None = None) -> Report:
    tz = a.std.timezone
    version = versions_between(a.conn, start, end)[-1][0]
    city = a.city(version)
    cams = maintenance.cameras(a.conn, city, a.std, start, end, now, timescale=a.timescale)
    def sla_met(c) -> bool | None:
        """The standard's own verdict: met even with every unknown second down, failed even with
        every one up, else unknown (and not a key location: no verdict)."""
        if not c.key:
            return None
        v = verdict(c.up_s, c.unknown_s, c.up_s + c.down_s + c.unknown_s, sla)
        return None if v is CellStatus.UNKNOWN else v is CellStatus.COVERED

    rows = []
    for c in cams:
        text, hours = _faults(c.faults)
        rows.append({"camera_id": c.camera_id, "name": c.name, "category": c.category, "key": c.key,
                     "district": c.district, "street": c.street, "availability": c.availability, "unknown": c.unknown,
                     "meets_sla": sla_met(c), "meets": sla_met(c),
                     "outages": c.outages, "mttr_h": _h(c.mttr_s), "longest_outage_h": _h(c.longest_outage_s),
                     "image_faults": text, "image_fault_h": hours})
    tables = [Table("cameras", "Cameras, worst first 摄像机（由差到好）", CAMERA_COLUMNS, rows, PERCENT)]
    grouped = maintenance.groups(cams, city.grid)
    for group, title in (("district", "Districts 区"), ("street", "Streets 街道"), ("category", "Categories 类别")):
        grows = []
        for g in (x for x in grouped if x.group == group):
            text, hours = _faults(g.faults)
            grows.append({"group_id": g.group_id, "name": g.name, "cameras": g.cameras, "availability": g.availability,
                          "unknown": g.unknown, "outages": g.outages, "mttr_h": _h(g.mttr_s),
                          "longest_outage_h": _h(g.longest_outage_s), "image_faults": text, "image_fault_h": hours})
        tables.append(Table(f"{group}s" if group != "category" else "categories", title, GROUP_COLUMNS, grows, PERCENT))
    key = [c for c in cams if c.key and c.availability is not None]
    up = sum(c.up_s for c in key)
    known = sum(c.up_s + c.down_s for c in key)
    verdicts = [sla_met(c) for c in cams if c.key]
    judged = [v for v in verdicts if v is not None]
    whole = max(1.0, sum(c.up_s + c.down_s + c.unknown_s for c in key))
    headlines = [Headline("key cameras' availability 重点摄像机在线率", up / known if known else None, sla,
                          f"unknown {sum(c.unknown_s for c in key) / whole:.1%}"),
                 Headline("key cameras meeting the SLA 达标摄像机", sum(judged) / len(judged) if judged else None, None,
                          f"{sum(judged)} of {len(judged)} judged; {len(verdicts) - len(judged)} unknown"),
                 Headline("outages 故障次数", None, None, f"{sum(c.outages for c in cams)} in all")]
    about = {**completeness(a.conn, city, start, end), "grid version": version, "cameras": len(cams),
             "key cameras": sum(c.key for c in cams), "SLA": f"{sla:.1%}",
             "generated": datetime.fromtimestamp(time.time(), ZoneInfo(tz)).isoformat(timespec="seconds")}
    report = Report("uptime", "Camera uptime 摄像机在线率", {"label": label, "from": rfc3339(start, tz),
                                                         "to": rfc3339(end, tz), "timezone": tz},
                    about, headlines, tables, METHODS, notes=list(notes or []))
    if charts_too:
        worst = [c for c in cams if c.availability is not None][:20]
        if worst:
            report.charts.append(("The 20 cameras with the lowest availability 在线率最低的摄像机", charts.shares_bars(
                [f"{c.name} ({c.camera_id})" for c in worst], [c.up_s / (c.up_s + c.down_s + c.unknown_s) for c in worst],
                [c.unknown for c in worst], sla, "share of the period up; SLA line")))
        districts = tables[1].rows
        if districts:
            report.charts.append(("Districts 各区在线率", charts.shares_bars(
                [r["name"] for r in districts], [(r["availability"] or 0) * (1 - r["unknown"]) for r in districts],
                [r["unknown"] for r in districts], sla, "share of the period up; SLA line")))
        kinds: dict[str, float] = {}
        for c in cams:
            for k, (_, s) in c.faults.items():
                kinds[k] = kinds.get(k, 0.0) + s / 3600
        if kinds:
            order = sorted(kinds, key=kinds.get, reverse=True)
            report.charts.append(("Image faults by kind 图像故障类型", charts.bars(
                order, [kinds[k] for k in order], "hours of each kind of image fault", "hours")))
    return report
