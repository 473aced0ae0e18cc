"""Scenarios: a city, its traffic over a period, the faults injected, and the ground truth.

A scenario file (TOML)::

    name = "small"
    cells = 60                  # 50 … 20,000
    seed = 3
    start = "2026-11-20T08:00:00+08:00"
    duration_s = 3600
    acceleration = 60           # simulated seconds per real second when published
    gps_interval_s = 10
    heartbeat_s = 60
    snapshot_every_s = 600

    [[faults]]
    kind = "camera_offline"     # see FAULT_KINDS
    target = "random"           # a camera or unit id, or "random"
    start_s = 600
    duration_s = 900

Every run writes its ground truth: each injected fault with its times, the alerts it must
cause (type, subject, window), the messages the ingest must reject (by reason), and the
defence-system coverage of every cell and area, its patrol, camera and checkpoint parts,
every key camera's uptime and every checkpoint's staffing — worked out by ``simulators.truth``
from what the generator planned (exact positions every second, planned down times, planned
check-ins), independently of the code that computes the product's figures.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.types import AlertType

from .city import City, city_bounds, generate_city
from .fleet import IMAGE_FAULTS, _seed, patrol_tracks, snapshot
from geofence.spans import complement, intersect, merge

from .truth import CameraPlan, CheckpointPlan, GroundTruth, TruthStandard, UnitPlan

CAMERA_FAULTS = ("camera_offline", "camera_flapping", "low_fps", "not_recording", "storage_fault")
WIRE_FAULTS = ("gps_dropout", "buffered_batch", "duplicates", "out_of_order", "clock_skew", "malformed",
               "hostile", "unknown_device", "ingest_outage")
FAULT_KINDS = CAMERA_FAULTS + tuple(f"image_{f}" for f in IMAGE_FAULTS) + WIRE_FAULTS
BUILT_IN = Path(__file__).resolve().parent / "scenarios"

_ALERT = {"camera_offline": AlertType.CAMERA_OFFLINE, "camera_flapping": AlertType.CAMERA_FLAPPING,
          "low_fps": AlertType.CAMERA_LOW_FPS, "not_recording": AlertType.CAMERA_NOT_RECORDING,
          "storage_fault": AlertType.CAMERA_STORAGE_FAULT, "gps_dropout": AlertType.UNIT_SILENT,
          **{f"image_{f}": AlertType(f"image_{f}") for f in IMAGE_FAULTS}}


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal[FAULT_KINDS]  # type: ignore[valid-type]
    target: str = "random"
    start_s: float = Field(0, ge=0)
    duration_s: float = Field(600, gt=0)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    cells: int = Field(60, ge=50, le=20_000)
    seed: int = 1
    start: datetime | Literal["now"] = Field(
        "now", description='RFC 3339, or "now": the period ends at the current minute (replayed history)')
    duration_s: float = Field(3600, gt=0, le=7 * 86_400)
    acceleration: float = Field(60, gt=0, le=100_000)
    gps_interval_s: float = Field(10, gt=0)
    heartbeat_s: float = Field(60, gt=0)
    snapshot_every_s: float = Field(600, gt=0)
    extent_km: float | None = Field(None, gt=0, le=200, description="The city's width and height, km, around the "
                                    "default city's centre (default: the default city, about 57 × 56 km)")
    plan: Literal["random", "tours"] = Field("random", description='"random": each unit heads for cells of its '
                                             'street at random, shifts staggered; "tours": every unit on duty the '
                                             'whole period, going round its street\'s cells in turn')
    faults: tuple[FaultSpec, ...] = ()

    @property
    def start_ts(self) -> float:
        if self.start == "now":
            return (int(time.time()) // 60) * 60 - self.duration_s
        return self.start.timestamp()

    def resolved(self) -> "Scenario":
        """The same scenario with "now" replaced by its time (what the ground truth records)."""
        if self.start != "now":
            return self
        return self.model_copy(update={"start": datetime.fromtimestamp(self.start_ts, timezone.utc)})

    @classmethod
    def load(cls, name_or_path: str) -> "Scenario":
        path = Path(name_or_path)
        if not path.suffix:
            path = BUILT_IN / f"{name_or_path}.toml"
        try:
            return cls.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ScenarioError(f"no scenario {name_or_path!r} (built in: {', '.join(built_in())})") from None
        except (tomllib.TOMLDecodeError, ValidationError) as e:
            raise ScenarioError(f"{path}: {e}") from None


class ScenarioError(ValueError):
    pass


def built_in() -> list[str]:
    return sorted(p.stem for p in BUILT_IN.glob("*.toml"))


@dataclass(frozen=True)
class Outgoing:
    at: float  # simulated send time, epoch seconds
    topic: str
    payload: bytes


@dataclass
class Simulation:
    scenario: Scenario
    city: City
    messages: list[Outgoing]
    truth: dict = field(default_factory=dict)
    outages: list[tuple[float, float]] = field(default_factory=list)  # no ingest receiving: nothing got through

    @property
    def received(self) -> list[tuple[float, float]]:
        """The stretches of its period a replay of it declares received (an import of history):
        all of it but its ingest outages."""
        start = self.scenario.start.timestamp()
        return complement(merge(self.outages), start, start + self.scenario.duration_s)

    def write_truth(self, path: Path) -> None:
        path.write_text(json.dumps(self.truth, indent=1, ensure_ascii=False))


def _fix_payload(ts: float, lon: float, lat: float, acc: float, spd: float, officers, seq: int) -> dict:
    return {"ts": round(ts, 3), "lat": round(lat, 7), "lon": round(lon, 7), "acc": acc, "spd": round(spd, 2),
            "hdg": 0, "batt": 90, "officers": list(officers), "seq": seq}


def run(sc: Scenario, standard: TruthStandard | None = None) -> Simulation:
    """Generate the city, the traffic with its faults, and the ground truth (judged against
    `standard`, which must be the product's)."""
    sc = sc.resolved()
    city = generate_city(sc.cells, sc.seed, city_bounds(sc.extent_km))
    # the cameras say how often they send a heartbeat: the ingest judges their silences by it
    city = replace(city, cameras=[replace(c, heartbeat_s=sc.heartbeat_s) for c in city.cameras])
    start = sc.start.timestamp()
    end = start + sc.duration_s
    rng = np.random.default_rng(_seed("scenario", sc.seed, sc.name))
    tracks = patrol_tracks(city, start, sc.duration_s, sc.gps_interval_s, sc.seed, tours=sc.plan == "tours")
    cams = {c.id: c for c in city.cameras}
    units = {t.unit.id: t for t in tracks}

    def active(kind: str, target: str, t: float) -> bool:
        return any(f.kind == kind and tg == target and a <= t < b for f, tg, a, b in faults)

    out: list[Outgoing] = []
    published: dict[str, list[dict]] = {}  # unit → the fixes published as sent (exact wire values)
    rejects: dict[str, int] = {}
    # -- shifts: staggered, so that the fleet is never all on or all off at once -------------
    shift: dict[str, tuple[float, float]] = {}
    for k, uid in enumerate(units):
        shift[uid] = ((start, end) if sc.plan == "tours" else
                      (start + (k % 3) * sc.duration_s / 6, end - ((k + 1) % 3) * sc.duration_s / 6))
    faults = []
    for f in sc.faults:
        a, b = start + f.start_s, min(end, start + f.start_s + f.duration_s)
        if f.kind in ("gps_dropout", "buffered_batch", "clock_skew"):  # a unit on duty throughout
            pool = [u for u in units if shift[u][0] <= a and b <= shift[u][1]] or list(units)
        elif f.kind == "ingest_outage":
            pool = ["ingest"]
        else:
            pool = list(cams)
        target = f.target if f.target != "random" else pool[int(rng.integers(len(pool)))]
        faults.append((f, target, a, b))
    # -- check-ins: two officers of the nearest car unit staff each checkpoint for its shift ----
    cars = [u for u in units.values() if u.unit.kind == "car"]
    checkins: dict[str, list[tuple[str, float, float]]] = {}
    for cp in city.checkpoints:
        near = min(cars, key=lambda u: (u.lon[0] - cp.lon) ** 2 + (u.lat[0] - cp.lat) ** 2)
        on, off = shift[near.unit.id]
        for officer in near.unit.officers[:2]:
            checkins.setdefault(cp.id, []).append((officer, on, off))
            for t, action in ((on, "on"), (off, "off")):
                out.append(Outgoing(t, f"pingan/v1/checkpoint/{cp.id}/checkin", json.dumps(
                    {"ts": round(t, 3), "officer": officer, "action": action, "method": "nfc"}).encode()))
    # -- patrol fixes, with the wire faults that concern units ----------------------------------
    for uid, tr in units.items():
        keep = []
        held: list[dict] = []
        on, off = shift[uid]
        for t, duty in ((on, "on"), (off, "off")):  # the officers sign on and off duty in the app
            if t < end:
                out.append(Outgoing(t, f"pingan/v1/patrol/{uid}/duty", json.dumps({"duty": duty, "ts": t}).encode()))
        for i, ts in enumerate(tr.ts):
            if not on <= ts < off:
                continue  # off duty
            body = _fix_payload(ts, tr.lon[i], tr.lat[i], float(tr.acc[i]), float(tr.spd[i]), tr.unit.officers, i)
            topic = f"pingan/v1/patrol/{uid}/gps"
            if active("gps_dropout", uid, ts):
                continue
            if active("clock_skew", uid, ts):
                body["ts"] = round(ts + 3600, 3)  # an hour ahead: the ingest rejects it
                out.append(Outgoing(ts, topic, json.dumps(body).encode()))
                rejects["future_timestamp"] = rejects.get("future_timestamp", 0) + 1
                continue
            keep.append(body)
            if active("buffered_batch", uid, ts):
                held.append(body)
                continue
            if held:
                out.append(Outgoing(ts, topic, json.dumps(held).encode()))  # sent after the reconnect
                held = []
            out.append(Outgoing(ts, topic, json.dumps(body).encode()))
        if held:
            out.append(Outgoing(end, f"pingan/v1/patrol/{uid}/gps", json.dumps(held).encode()))
        published[uid] = keep
    # -- cameras: heartbeats and snapshots ---------------------------------------------------
    down: dict[str, list[tuple[float, float]]] = {}
    shown: dict[str, list[tuple[float, str | None]]] = {}  # camera → (snapshot time, the fault it shows)
    for cam in city.cameras:
        frozen_at = None
        was_offline = False
        t = start
        while t < end:
            offline = active("camera_offline", cam.id, t) or (active("camera_flapping", cam.id, t) and
                                                              int((t - start) // sc.heartbeat_s) % 2 == 1)
            if offline:
                down.setdefault(cam.id, []).append((t, min(end, t + sc.heartbeat_s)))
            if offline != was_offline:  # the device's status, with its own time
                out.append(Outgoing(t, f"pingan/v1/camera/{cam.id}/status", json.dumps(
                    {"status": "offline" if offline else "online", "ts": round(t, 3)}).encode()))
                was_offline = offline
            if not offline:
                out.append(Outgoing(t, f"pingan/v1/camera/{cam.id}/health", json.dumps({
                    "ts": round(t, 3), "online": True,
                    "fps": 4.0 if active("low_fps", cam.id, t) else cam.expected_fps,
                    "bitrate_kbps": 2048, "recording": not active("not_recording", cam.id, t),
                    "storage_ok": not active("storage_fault", cam.id, t), "packet_loss": 0.001,
                    "temp_c": 40.0, "uptime_s": t - start}).encode()))
                if int((t - start) % sc.snapshot_every_s) < sc.heartbeat_s:
                    fault = next((f for f in IMAGE_FAULTS if active(f"image_{f}", cam.id, t)), None)
                    if fault == "frozen" and frozen_at is None:
                        frozen_at = t
                    # a frozen picture shows as frozen from the second one on (the first is the last live one)
                    shown.setdefault(cam.id, []).append((t, None if fault == "frozen" and frozen_at == t else fault))
                    out.append(Outgoing(t, f"pingan/v1/camera/{cam.id}/snapshot",
                                        snapshot(cam, t, fault, frozen_at)))
            t += sc.heartbeat_s
    # -- wire faults that concern the stream as a whole ---------------------------------------
    for f, _, a, b in faults:
        if f.kind == "duplicates":
            window = [m for m in out if a <= m.at < b and "/gps" in m.topic][:50]
            out += window  # the same messages again
            rejects["duplicate"] = rejects.get("duplicate", 0) + sum(
                len(json.loads(m.payload)) if m.payload.startswith(b"[") else 1 for m in window)
        elif f.kind == "out_of_order":
            idx = [i for i, m in enumerate(out) if a <= m.at < b and "/gps" in m.topic][:200]
            times = [out[i].at for i in idx]
            rng.shuffle(times)
            for i, t in zip(idx, times, strict=True):
                out[i] = Outgoing(t, out[i].topic, out[i].payload)
        elif f.kind == "malformed":
            for k in range(10):
                out.append(Outgoing(a + k, f"pingan/v1/patrol/{city.units[0].id}/gps", b'{"ts": "soon", "lat": '))
            rejects["malformed"] = rejects.get("malformed", 0) + 10
        elif f.kind == "hostile":
            uid = city.units[0].id
            out += [Outgoing(a, f"pingan/v1/patrol/{uid}/gps", b"[" * 70_000),  # oversized
                    Outgoing(a + 1, f"pingan/v1/patrol/{uid}/gps", b'{"ts": 1e999, "lat": 1e999, "lon": -1e999}'),
                    Outgoing(a + 2, f"pingan/v1/camera/{city.cameras[0].id}/snapshot", b"\x00" * 100),
                    Outgoing(a + 3, f"pingan/v1/patrol/{uid}/gps", '{"ts":0,"officers":["\u0000"]}'.encode())]
            for reason, n in (("oversized", 1), ("malformed", 2), ("not_jpeg", 1)):
                rejects[reason] = rejects.get(reason, 0) + n
        elif f.kind == "unknown_device":
            for k in range(5):
                out.append(Outgoing(a + k, "pingan/v1/patrol/intruder-7/gps", json.dumps(
                    {"ts": a + k, "lat": 32.0, "lon": 118.8}).encode()))
            rejects["unknown_device"] = rejects.get("unknown_device", 0) + 5
    # -- an ingest outage: nobody receiving, so nothing sent meanwhile got through (devices do not
    # keep what an outage of the ingest loses) ------------------------------------------------
    outages = merge((a, b) for f, _, a, b in faults if f.kind == "ingest_outage")
    if outages:
        def lost(t: float) -> bool:
            return any(a <= t < b for a, b in outages)

        wire = [f.kind for f, _, a, b in faults if f.kind in WIRE_FAULTS and f.kind != "ingest_outage"
                and any(a < y and x < b for x, y in outages)]
        if wire:  # (what they inject, and the rejects they count, would be lost with it)
            raise ScenarioError(f"an ingest outage overlaps the wire faults {wire}: keep them apart")
        out = [m for m in out if not lost(m.at)]
        published = {u: [b for b in fixes if not lost(b["ts"])] for u, fixes in published.items()}
    out.sort(key=lambda m: m.at)
    # -- ground truth --------------------------------------------------------------------------
    std = standard or TruthStandard()
    judge = GroundTruth(city.grid, start, end, std, unobserved=outages)
    plans = [UnitPlan(uid, units[uid].unit.kind, units[uid].unit.officers, units[uid].path,
                      np.array([b["ts"] for b in fixes])) for uid, fixes in published.items()]
    coverage = judge.compute(
        plans, [CameraPlan(c.id, str(c.category), c.lon, c.lat, down.get(c.id, ())) for c in city.cameras],
        [CheckpointPlan(c.id, c.lon, c.lat, c.radius_m, c.min_staff, c.schedule, checkins.get(c.id, ()))
         for c in city.checkpoints])
    truth = {
        "scenario": sc.model_dump(mode="json"),
        "faults": [{"kind": f.kind, "target": tg, "start": a, "end": b} for f, tg, a, b in faults],
        "alerts": expected_alerts(faults, shown, coverage, checkpoint_minutes(judge, city, checkins, plans),
                                  {u.unit_id: judge.out_of_area(u, units[u.unit_id].unit.team, *shift[u.unit_id])
                                   for u in plans}, sc, std,
                                  {c.id for c in city.grid.leaves if str(c.priority) == "key"},
                                  judge.under_strength(_teams(city, plans))),
        "rejects": rejects,
        "messages": len(out),
        "coverage": coverage,
    }
    return Simulation(sc, city, out, truth, outages)


# -- the alerts a scenario must raise -----------------------------------------------------------------
def checkpoint_minutes(judge: GroundTruth, city: City, checkins, plans) -> dict[str, list[tuple[int, int, bool]]]:
    """Each checkpoint's runs of understaffed scheduled minutes, per reading (favourable first)."""
    out = {}
    for cp in city.checkpoints:
        plan = CheckpointPlan(cp.id, cp.lon, cp.lat, cp.radius_m, cp.min_staff, cp.schedule, checkins.get(cp.id, ()))
        out[cp.id] = judge.understaffed_runs(plan, plans)
    return out


def _teams(city: City, plans) -> dict[str, list]:
    team_of = {u.id: u.team for u in city.units}
    out: dict[str, list] = {}
    for p in plans:
        out.setdefault(team_of[p.unit_id], []).append(p)
    return out


def _gap_open(readings, gap_late: float, std: TruthStandard, end: float):
    """When a cell's coverage gap alert is surely open and when it may be: from its failing (the
    latest reading's, and the judging step behind) until the next visit began (the earliest
    reading's); may be from the earliest failing until the latest visit lasted its dwell and was
    judged. Readings that differ on how many of its gaps failed: may be, never surely."""
    sure, maybe = [], []
    dwell = max(std.min_dwell_s.values()) + std.margin_s
    for r in readings:
        maybe += [(a, b + dwell + gap_late if b < end else math.inf) for a, b in r]
    if readings and len({len(r) for r in readings}) == 1:
        for k in range(len(readings[0])):
            a, b = max(r[k][0] for r in readings) + gap_late, min(r[k][1] for r in readings)
            sure.append((a, b if b < end else math.inf))
    return merge(sure), merge(maybe)


def _blinded(cam: str, faults, shots, blinding: set[str], sc: "Scenario", std: TruthStandard, late: float):
    """When a camera's blinding alert is surely open and when it may be: an offline camera from
    its hold (and the judging behind) to the fault's end, maybe from the fault's start until its
    clear has run; an image fault from the snapshot that confirms it to the last that shows it,
    maybe from the first to the next snapshot's judging; flapping maybe, never surely."""
    sure, maybe = [], []
    for f, tg, a, b in faults:
        if tg != cam or f.kind not in blinding or f.kind.startswith("image_"):
            continue
        maybe.append((a, b + late + std.offline_clear_s))
        if f.kind == "camera_offline":
            sure.append((a + std.offline_for_s + 3 * sc.heartbeat_s + late, b))  # (said, or by its silence)
    for run in _showing(shots, {f[6:] for f in blinding if f.startswith("image_")}):
        maybe.append((run[0], run[-1] + sc.snapshot_every_s + late))
        if len(run) >= std.image_confirm:
            sure.append((run[std.image_confirm - 1] + late, run[-1]))
    return merge(sure), merge(maybe)


def _showing(shots, faults: set[str]) -> list[list[float]]:
    """The runs of consecutive snapshots (their times) that show one of the faults."""
    runs: list[list[float]] = [[]]
    for t, got in shots:
        if got in faults:
            runs[-1].append(t)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def expected_alerts(faults, shown, coverage, understaffed, outside, sc: Scenario, std: TruthStandard,
                    key_cells: frozenset[str] | set[str] = frozenset(), short_teams=()) -> list[dict]:
    """Every alert the scenario must raise, each with the window it must open in; ``optional``
    ones (where the truth allows either) may or may not be raised.

    - camera and unit faults: from the fault's start to its end plus two heartbeats;
    - image faults: where at least ``std.image_confirm`` consecutive snapshots show the fault;
    - coverage gaps: one for every gap without a visit that failed (a stretch of it with nothing
      unknown ran past the cell's revisit interval), from the moment it failed to the lateness of
      the replay and a step of its judging later (optional where the readings of the doubt differ
      on how many of the cell's gaps failed);
    - understaffed checkpoints: every run of understaffed scheduled minutes at least the rule's
      hold long (optional where only one reading of the doubtful minutes has it so long);
    - units out of their team's area: every stretch on duty outside it at least the rule's hold
      long (optional where the unit was near the edge or the stretch about as long as the hold);
    - teams under strength: each team with fewer than ``std.team_minimum`` officers seen in a
      piece of a shift, once the piece has ended (a few minutes after, when it is judged);
    - blind spots: a key cell while its coverage gap alert and every key camera's blinding alert
      are all open at once — surely (for at least a judging step: it must open, by then) or
      possibly (it may; optional), one expectation per stretch in which they may be;
    - coverage indicator below target: each street and district whose cells not surely not covered
      (covered, or unknown) are under ``std.indicator_target`` of its cells, when the period closes
      (optional where the doubtful cells decide it).
    """
    start, end = sc.start.timestamp(), sc.start.timestamp() + sc.duration_s
    late = 2 * sc.heartbeat_s
    # a coverage gap is judged `lateness` behind the newest data (a replay: two wall seconds' worth,
    # at least a minute), every coverage step or sweep, whichever is longer (a sweep: 2 wall seconds)
    lateness = max(60.0, 2.0 * sc.acceleration)
    gap_late = lateness + max(30.0, 2.0 * sc.acceleration) + std.margin_s
    out = []
    for f, tg, a, b in faults:
        if f.kind in _ALERT and not f.kind.startswith("image_"):
            out.append({"type": str(_ALERT[f.kind]), "subject": tg, "from": a, "to": b + late})
    for cam, snaps in shown.items():
        for fault in IMAGE_FAULTS:
            for run in _showing(snaps, {fault}):
                out.append({"type": f"image_{fault}", "subject": cam, "from": run[0],
                            "to": run[-1] + sc.snapshot_every_s + late,
                            **({} if len(run) >= std.image_confirm else {"optional": True})})
    for cell_id, readings in coverage["gap_openings"].items():
        sure = len({len(r) for r in readings}) == 1
        for k in range(max(len(r) for r in readings)):
            moments = [r[k] for r in readings if len(r) > k]
            out.append({"type": "coverage_gap", "subject": cell_id, "from": min(moments),
                        "to": max(moments) + gap_late, **({} if sure else {"optional": True})})
    for uid, (surely, possibly) in outside.items():
        for a, b in possibly:
            if b - a < std.out_of_area_for_s - std.margin_s:
                continue
            sure = any(a <= x and y <= b and y - x >= std.out_of_area_for_s + std.margin_s for x, y in surely)
            out.append({"type": "unit_out_of_area", "subject": uid, "from": a, "to": b + late,
                        **({} if sure else {"optional": True})})
    blinding = {"camera_offline", "camera_flapping", "image_signal_loss", "image_occluded", "image_frozen",
                "image_dark", "image_overexposed", "image_scene_change", "image_ptz_drift"}
    step = max(30.0, 2.0 * sc.acceleration) + std.margin_s  # how often blind spots are looked for, and then some
    for cell_id in sorted(key_cells):
        cams = [k for k, c in coverage["cameras"].items() if cell_id in c["cells"] and c["category"] in std.key_categories]
        if not cams:
            continue
        gap_sure, gap_maybe = _gap_open(coverage["gap_windows"].get(cell_id, []), gap_late, std, end)
        eyes = [_blinded(cam, faults, shown.get(cam, ()), blinding, sc, std, late) for cam in cams]
        sure, maybe = gap_sure, gap_maybe
        for cam_sure, cam_maybe in eyes:
            sure, maybe = intersect(sure, cam_sure), intersect(maybe, cam_maybe)
        for a, b in maybe:  # one expectation per stretch in which all of it may hold at once
            must = [(x, y) for x, y in sure if a <= x and y <= b and y - x >= step]
            out.append({"type": "blind_spot", "subject": cell_id, "from": a, "to": (must[0][0] + step if must else b),
                        **({} if must else {"optional": True})})
    for level in ("street", "district"):
        for area_id, (lo, hi) in coverage["not_short"][level].items():
            if lo < std.indicator_target - 1e-9:
                out.append({"type": "indicator_below_target", "subject": area_id, "from": start, "to": end + late,
                            **({} if hi < std.indicator_target - 1e-9 else {"optional": True})})
    for team, a, b, _ in short_teams:
        out.append({"type": "team_under_strength", "subject": team, "from": a, "to": b + 600})
    need = std.understaffed_for_s / 60  # minutes; runs are in whole minutes, so ±1 is doubtful
    for cp_id, (favour, against) in understaffed.items():
        for a, b in against:  # the reading with the fewest officers present: the longest runs
            if b - a < need - 1:
                continue
            surely = any(a <= x and y <= b and y - x >= need + 1 for x, y in favour)
            out.append({"type": "checkpoint_understaffed", "subject": cp_id, "from": start + 60 * a,
                        "to": start + 60 * b + late, **({} if surely else {"optional": True})})
    return out
