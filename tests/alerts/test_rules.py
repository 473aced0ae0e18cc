"""The alert rules and the lifecycle as timelines of inputs, no mocks: each expected opening and
resolution worked out by hand in the comments."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import Point, box, mapping

from alerts.lifecycle import Action, Lifecycle
from alerts.notify import Dispatcher
from alerts.rules import cameras, images, indicator, patrol, units
from alerts.settings import AlertSettings
from alerts.types import AlertType, Severity
from geofence.coverage import LevelCoverage, PatrolStandard
from geofence.crs import MetricFrame
from geofence.grid import Grid, Level, Priority
from geofence.lookup import CellIndex
from geofence.sites import Checkpoint
from store.records import CameraHealth, Checkin, DeviceStatus, PatrolFix

T = AlertType
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
CP = cameras.CameraParams(missed_heartbeats=3, low_fps_ratio=0.5, flapping_transitions=4, flapping_window_s=600)


class Run:
    """Feeds a timeline through a rule family and the lifecycle; keeps every change."""

    def __init__(self, settings: AlertSettings | None = None):
        ids = iter(range(1, 10_000))
        self.life = Lifecycle(settings or AlertSettings(), new_id=lambda: f"a{next(ids)}")
        self.changes = []

    def feed(self, conds, now):
        self.changes += self.life.apply(conds, now)
        self.changes += self.life.tick(now)

    def opened(self, t=None):
        return [(c.alert.type, c.alert.subject, c.at) for c in self.changes
                if c.action is Action.OPEN and (t is None or c.alert.type is t)]

    def resolved(self, t=None):
        return [(c.alert.type, c.alert.subject, c.at) for c in self.changes
                if c.action is Action.RESOLVE and (t is None or c.alert.type is t)]


def hb(cam, t, **kw) -> CameraHealth:
    return CameraHealth(cam, T0 + t, kw.pop("online", True), kw.pop("fps", 25.0), recording=kw.pop("recording", True),
                        storage_ok=kw.pop("storage_ok", True))


def status(cam, t, online) -> DeviceStatus:
    return DeviceStatus("camera", cam, T0 + t, online)


def camera_timeline(events, until, step=10):
    """events: (seconds, record); swept every `step` seconds in between, like the service."""
    st = cameras.CameraState("cam1", 60.0, 25.0, {"category": "main_street", "street": "S1"})
    return replay(events, until, step,
                  lambda rec: cameras.on_health(st, rec, CP) if isinstance(rec, CameraHealth)
                  else cameras.on_status(st, rec, CP),
                  lambda now: cameras.on_tick(st, now, CP))


def replay(events, until, step, on_event, on_tick) -> Run:
    """Events (seconds after T0, record) in time order, with a sweep every `step` seconds between."""
    run = Run()
    events = sorted(events, key=lambda e: e[0])
    t, i = 0, 0
    while t <= until:
        while i < len(events) and events[i][0] <= t:
            run.feed(on_event(events[i][1]), T0 + events[i][0])
            i += 1
        run.feed(on_tick(T0 + t), T0 + t)
        t += step
    return run


def test_a_camera_that_says_it_is_offline_opens_after_its_hold_and_resolves_after_its_clear():
    # heartbeats every 60 s; at 600 s it says offline, at 1200 s online again and heartbeats resume.
    # camera_offline holds 120 s (opens at 720 s) and must be clear 60 s (resolves at 1260 s).
    ev = [(t, hb("cam1", t)) for t in range(0, 600, 60)] + [(600, status("cam1", 600, False))]
    ev += [(1200, status("cam1", 1200, True))] + [(t, hb("cam1", t)) for t in range(1200, 1800, 60)]
    run = camera_timeline(ev, 1800)
    assert run.opened(T.CAMERA_OFFLINE) == [(T.CAMERA_OFFLINE, "cam1", T0 + 720)]
    assert run.resolved(T.CAMERA_OFFLINE) == [(T.CAMERA_OFFLINE, "cam1", T0 + 1260)]
    alert = next(c.alert for c in run.changes if c.action is Action.OPEN)
    assert alert.since == T0 + 600 and alert.severity is Severity.MAJOR


def test_one_late_heartbeat_opens_nothing_but_silence_does_from_the_first_missed_beat():
    # one heartbeat lost (none at 600 s) and the next 100 s late (at 760 s): 220 s of silence is more than
    # 3 × 60 s, so that is an outage from 600 s … known at 730 s, held 120 s since 600 s: opens at 730 s
    # and clears at 760 s + 60 s. But one beat 100 s late (at 640 s, 160 s after 480 s) opens nothing.
    ev = [(t, hb("cam1", t)) for t in [*range(0, 600, 60), *range(760, 1200, 60)]]
    assert camera_timeline(ev, 1200).opened() == [(T.CAMERA_OFFLINE, "cam1", T0 + 730)]
    ev = [(t, hb("cam1", t)) for t in [*range(0, 540, 60), *range(640, 1200, 60)]]
    assert camera_timeline(ev, 1200).opened() == []
    # silent after the heartbeat at 540 s: offline from 600 s (the first missed beat), known once
    # 3 × 60 s have passed (at 730 s, swept every 10 s); the 120 s hold then ends at 720 s → opens at 730 s.
    ev = [(t, hb("cam1", t)) for t in range(0, 600, 60)]
    run = camera_timeline(ev, 1200)
    assert run.opened() == [(T.CAMERA_OFFLINE, "cam1", T0 + 730)]
    assert next(c.alert.since for c in run.changes) == T0 + 600


def test_a_silence_across_a_stretch_nobody_received_counts_afresh_from_its_end():
    # heartbeat 60 s, 3 missed = offline. Last heard at 100 s; nobody receiving 200 → 1400 s
    st = cameras.CameraState("cam1", 60.0, 25.0)
    cameras.on_health(st, hb("cam1", 100), CP)
    missed = (T0 + 200, T0 + 1400)
    assert cameras.offline_since(st, T0 + 1500, CP) == T0 + 160  # counted through the stretch: "offline"
    assert cameras.offline_since(st, T0 + 1500, CP, missed) is None  # afresh from 1400 s: 100 s, within 180
    assert cameras.offline_since(st, T0 + 1590, CP, missed) == T0 + 1460  # past 180 s since 1400: from 1460
    # already past its limit when the stretch began (silent since 100 s, the stretch from 400 s): stays
    assert cameras.offline_since(st, T0 + 1500, CP, (T0 + 400, T0 + 1400)) == T0 + 160
    # a unit likewise (max gap 300 s)
    u = units.UnitState("u1")
    units.on_fix(u, PatrolFix("u1", T0 + 100, 32.05, 118.78), {}, units.UnitParams(300))
    assert units.silent_since(u, T0 + 1500, units.UnitParams(300), missed) is None
    assert units.silent_since(u, T0 + 1710, units.UnitParams(300), missed) == T0 + 1700


def test_a_flapping_camera_raises_flapping_not_a_stream_of_offline_and_online():
    # offline for 60 s every other minute from 300 s to 900 s: changes at 300 (off), 360 (on), 420 (off),
    # 480 (on) … the fourth change within 600 s (at 480 s) makes it flapping.
    ev = [(t, hb("cam1", t)) for t in range(0, 300, 60)]
    for k, t in enumerate(range(300, 900, 60)):
        off = k % 2 == 0
        ev.append((t, status("cam1", t, not off)))
        if not off:
            ev.append((t, hb("cam1", t)))
    ev += [(t, hb("cam1", t)) for t in range(900, 2400, 60)]
    run = camera_timeline(ev, 2400)
    assert run.opened() == [(T.CAMERA_FLAPPING, "cam1", T0 + 480)]
    assert run.opened(T.CAMERA_OFFLINE) == []
    # changes at 300, 360 … 840 s; fewer than 4 within 600 s once the one at 660 s ages out (1260 s),
    # then clear for 600 s → resolves at 1860 s
    assert run.resolved() == [(T.CAMERA_FLAPPING, "cam1", T0 + 1860)]


def test_health_faults_hold_then_open_and_clear():
    # fps 5 of 25 (< 50 %) from 600 s to 1200 s; heartbeats every 60 s; hold 60 s, clear 120 s
    ev = [(t, hb("cam1", t, fps=5.0 if 600 <= t < 1200 else 25.0, recording=not 900 <= t < 960))
          for t in range(0, 1800, 60)]
    run = camera_timeline(ev, 1800)
    assert run.opened(T.CAMERA_LOW_FPS) == [(T.CAMERA_LOW_FPS, "cam1", T0 + 660)]
    assert run.resolved(T.CAMERA_LOW_FPS) == [(T.CAMERA_LOW_FPS, "cam1", T0 + 1320)]
    # not recording on a single heartbeat (900 s): held 60 s? the next beat (960 s) is clear → nothing
    assert run.opened(T.CAMERA_NOT_RECORDING) == []


def fix(unit, t, cell="c1", lat=32.0, lon=118.0) -> PatrolFix:
    return PatrolFix(unit, T0 + t, lat, lon, cell_id=cell)


def unit_timeline(events, until, step=10, team_area=None, areas=None):
    st = units.UnitState("u1", team_area, {"kind": "car"})
    up = units.UnitParams(max_gap_s=300)
    return replay(events, until, step,
                  lambda rec: units.on_fix(st, rec, areas or {}, up) if isinstance(rec, PatrolFix)
                  else units.on_duty(st, rec, up),
                  lambda now: units.on_tick(st, now, up))


def test_a_silent_unit_opens_after_max_gap_and_hold_and_a_unit_off_duty_does_not():
    # fixes every 10 s to 600 s, then none until 1500 s: silent from 900 s (600 + 300), opens after
    # its 60 s hold at 960 s; the next fix (1500 s) clears it.
    ev = [(t, fix("u1", t)) for t in [*range(0, 610, 10), *range(1500, 1800, 10)]]
    run = unit_timeline(ev, 1800)
    assert run.opened() == [(T.UNIT_SILENT, "u1", T0 + 960)]
    assert run.resolved() == [(T.UNIT_SILENT, "u1", T0 + 1500)]
    # the same silence after signing off duty at 605 s: expected, nothing opens
    ev2 = ev + [(605, DeviceStatus("unit", "u1", T0 + 605, False, "duty"))]
    assert unit_timeline(ev2, 1800).opened() == []
    # a 320 s buffer (fixes held, sent together at 920 s): silent from 900 s but back before 960 s
    ev3 = [(t, fix("u1", t)) for t in range(0, 610, 10)] + [(920, fix("u1", t)) for t in range(610, 920, 10)]
    assert unit_timeline(ev3, 1200).opened() == []


def test_a_unit_out_of_its_team_area_for_its_hold():
    # team area S1; cells c1 (in S1) and c9 (in S2). Out in c9 from 300 s to 900 s, hold 300 s → opens 600 s
    areas = {"c1": ("S1", "D1", "C"), "c9": ("S2", "D1", "C")}
    ev = [(t, fix("u1", t, "c9" if 300 <= t < 900 else "c1")) for t in range(0, 1200, 10)]
    run = unit_timeline(ev, 1200, team_area="S1", areas=areas)
    assert run.opened() == [(T.UNIT_OUT_OF_AREA, "u1", T0 + 600)]
    assert run.resolved() == [(T.UNIT_OUT_OF_AREA, "u1", T0 + 900)]


def test_image_faults_open_on_consecutive_snapshots_only():
    st = images.ImageState("cam1")
    run = Run()
    seen = [set(), {"image_blur"}, set(), {"image_blur"}, {"image_blur"}, {"image_blur"}, set()]
    for k, faults in enumerate(seen):
        run.feed(images.on_diagnosis(st, T0 + 300 * k, faults, confirm=2), T0 + 300 * k)
    # blur alone at 300 s: not confirmed; blur at 900 s and 1200 s: opens at 1200 s, holding since 900 s
    assert run.opened() == [(T.IMAGE_BLUR, "cam1", T0 + 1200)]
    assert run.changes[0].alert.since == T0 + 900 and run.changes[0].alert.opened_at == T0 + 1200
    assert run.resolved() == [(T.IMAGE_BLUR, "cam1", T0 + 1800)]


# -- the lifecycle --------------------------------------------------------------------------------------
def test_one_open_alert_per_type_and_subject_and_escalation():
    s = AlertSettings(escalate_after_s=600)
    run = Run(s)
    st = cameras.CameraState("cam1", 60.0, 25.0, {"category": "main_street", "street": "S1"})
    cameras.on_health(st, hb("cam1", 0), CP)
    for t in range(600, 3000, 10):  # offline from 600 s (said at 600 s); opens 720 s, never acknowledged
        run.feed(cameras.on_status(st, status("cam1", 600, False), CP) + cameras.on_tick(st, T0 + t, CP), T0 + t)
    assert len(run.opened()) == 1
    # major → critical at 720 + 600 = 1320 s, then again every 600 s (critical stays critical)
    esc = [(c.at - T0, c.alert.severity, c.alert.escalations) for c in run.changes if c.action is Action.ESCALATE]
    assert esc == [(1320, Severity.CRITICAL, 1), (1920, Severity.CRITICAL, 2), (2520, Severity.CRITICAL, 3)]


class _Collect:
    def __init__(self, out):
        self.out = out

    def publish(self, message):
        self.out.append(message)

    def close(self):
        pass


def test_a_power_cut_in_a_street_is_one_grouped_notification():
    run = Run()
    for k in range(40):
        st = cameras.CameraState(f"cam{k:02d}", 60.0, 25.0, {"category": "main_street", "street": "S7"})
        run.feed(cameras.on_status(st, status(st.camera_id, 0, False), CP), T0)
        run.feed(cameras.on_tick(st, T0 + 130, CP), T0 + 130)
    other = cameras.CameraState("camX", 60.0, 25.0, {"category": "main_street", "street": "S8"})
    run.feed(cameras.on_status(other, status("camX", 0, False), CP), T0)
    run.feed(cameras.on_tick(other, T0 + 130, CP), T0 + 130)
    now = [0.0]
    sent = []
    d = Dispatcher([_Collect(sent)], group_window_s=20, clock=lambda: now[0])
    d.dispatch(run.changes)
    assert sent == []  # held for the group window
    now[0] = 21
    d.flush()
    groups = [m for m in sent if "group" in m]
    assert len(sent) == 2 and len(groups) == 1
    assert groups[0]["subject"] == "S7" and groups[0]["group"]["count"] == 40
    assert sorted(m["subject"] for m in groups[0]["members"]) == [f"cam{k:02d}" for k in range(40)]
    assert next(m for m in sent if "group" not in m)["subject"] == "camX"
    # grouped by district instead (alerts.group_by): S7 and S8 lie in D1, one message of 41
    for c in run.changes:
        c.alert.scope.update({"district": "D1"})
    sent.clear()
    d = Dispatcher([_Collect(sent)], group_window_s=20, clock=lambda: now[0], group_by=("type", "district"))
    d.dispatch(run.changes)
    now[0] = 42
    d.flush()
    assert len(sent) == 1 and sent[0]["subject"] == "D1" and sent[0]["group"] == {
        "type": "camera_offline", "district": "D1", "count": 41}
    # no grouping: each alone, at once
    sent.clear()
    Dispatcher([_Collect(sent)], group_window_s=20, group_by=()).dispatch(run.changes)
    assert len(sent) == 41 and not any("group" in m for m in sent)


# -- coverage gaps and staffing, live ------------------------------------------------------------------
FRAME = MetricFrame(118.78, 32.05)


def small_grid() -> Grid:
    """Cells A, B: 100 × 100 m side by side; A key (revisit 10 min), B normal (revisit 20 min)."""
    whole = box(0, 0, 200, 100)

    def f(cid, level, parent, g, **p):
        return {"type": "Feature", "properties": {"id": cid, "level": level, "parent": parent, **p},
                "geometry": mapping(FRAME.to_degrees(g))}

    feats = [f("C0", "city", None, whole), f("D0", "district", "C0", whole), f("S0", "street", "D0", whole),
             f("A", "grid", "S0", box(0, 0, 100, 100), priority="key"), f("B", "grid", "S0", box(100, 0, 200, 100))]
    return Grid.from_geojson({"type": "FeatureCollection", "features": feats})


def pfix(unit, t, x, officers=("o1",)) -> PatrolFix:
    p = FRAME.to_degrees(Point(x, 50))
    return PatrolFix(unit, T0 + t, p.y, p.x, officers=officers)


def test_a_coverage_gap_opens_when_the_revisit_interval_runs_out_and_resolves_on_the_next_visit():
    g = small_grid()
    std = PatrolStandard(max_gap_s=300, step_m=25, min_dwell_s={"car": 30.0},
                         revisit_minutes={Priority.KEY: 10, Priority.NORMAL: 20})
    params = patrol.PatrolParams(g, CellIndex(g.leaves), std)
    st = patrol.PatrolState()
    # the car stays in A (x = 50) from 0 to 120 s, then in B (x = 150) from 130 s to 1500 s, back in A
    # from 1510 s to 1600 s. A's visit ends at 120 s (+ half a step); its 10-minute interval runs out at
    # about 725 s; the next visit (1510–1600 s) resolves it. B is never more than 20 min without a visit.
    timeline = [(t, 50) for t in range(0, 130, 10)] + [(t, 150) for t in range(130, 1510, 10)]
    timeline += [(t, 50) for t in range(1510, 1610, 10)]
    opened_at = resolved_at = None
    for t, x in timeline:
        patrol.add_fix(st, pfix("u1", t, x), "car")
        for c in patrol.evaluate(st, params, T0, T0 + t):
            if c.type is T.COVERAGE_GAP and c.subject == "A":
                if c.active and opened_at is None:
                    opened_at = t
                if not c.active and opened_at is not None and resolved_at is None:
                    resolved_at = t
            assert not (c.subject == "B" and c.active and c.type is T.COVERAGE_GAP)
        if t == 700:  # the latest visits the service publishes for the API's cell states
            assert st.visits["A"] == pytest.approx(T0 + 125, abs=5)  # left A at x = 100, halfway 120–130 s
            assert st.visits["B"] == pytest.approx(T0 + 700, abs=5)  # (still there)
    assert 720 <= opened_at <= 740
    assert st.visits["A"] == pytest.approx(T0 + 1600, abs=5) and st.visits["B"] == pytest.approx(T0 + 1505, abs=5)
    # back in A from 1505 s (the straight line between x=150 at 1500 s and x=50 at 1510 s crosses into A
    # halfway): a visit once it has lasted the 30 s dwell (1535 s), seen at the next fix, 1540 s
    assert resolved_at == 1540
    # a cell never visited in a period shorter than its interval: a gap at the close of the period
    st2 = patrol.PatrolState()
    for t in range(0, 600, 10):
        patrol.add_fix(st2, pfix("u1", t, 150), "car")
    live = patrol.evaluate(st2, params, T0, T0 + 590)
    assert not any(c.active for c in live if c.type is T.COVERAGE_GAP)
    closed = patrol.evaluate(st2, params, T0, T0 + 600, closed=True)
    assert [c.subject for c in closed if c.active and c.type is T.COVERAGE_GAP] == ["A"]
    # … but not while the unit last seen there is silent
    st3 = patrol.PatrolState()
    held = patrol.evaluate(st3, params, T0, T0 + 1300, held={"A"})  # both intervals run out by 1300 s
    assert [c.subject for c in held if c.active and c.type is T.COVERAGE_GAP] == ["B"]


def test_coverage_gaps_count_only_observed_time_after_a_start_and_an_outage():
    """Unknown is never failure, live either: the ingest started at 3000 s (nothing was received
    before), A (10-minute interval) is never visited, B (20 minutes) only by the car in it."""
    g = small_grid()
    std = PatrolStandard(max_gap_s=300, step_m=25, min_dwell_s={"car": 30.0},
                         revisit_minutes={Priority.KEY: 10, Priority.NORMAL: 20})
    params = patrol.PatrolParams(g, CellIndex(g.leaves), std)
    st = patrol.PatrolState()
    before = [(T0, T0 + 3000)]
    for t in range(3000, 4300, 10):
        patrol.add_fix(st, pfix("u1", t, 150), "car")
    for t in [*range(4300, 4400, 10), *range(5600, 7000, 10)]:  # then out of the city (none in the outage)
        patrol.add_fix(st, pfix("u1", t, 250), "car")

    def gaps(now, unobserved):
        return [c.subject for c in patrol.evaluate(st, params, T0, T0 + now, unobserved=unobserved)
                if c.active and c.type is T.COVERAGE_GAP]

    # without the start taken out, A's 10 minutes "ran out" at 600 s, long before anyone was looking
    assert gaps(3100, ()) == ["A"]
    st.gaps.clear()
    # with it: 590 s of observed time, nothing; 610 s, A's gap opens
    assert gaps(3590, before) == []
    assert gaps(3610, before) == ["A"]
    # an outage of 20 minutes (1200 s) mid-way: a cell whose gap would run out only by counting the
    # outage does not open (B: the car left it at 4300 s, out of the city)
    st.gaps.clear()
    outage = [(T0, T0 + 3000), (T0 + 4400, T0 + 5600)]
    # (the batch rule: a gap fails once a stretch of it with nothing unknown in it exceeds the interval)
    assert "B" not in gaps(5500, outage)  # left at 4295 s; 105 s known, then nothing received
    assert "B" not in gaps(5600 + 1190, outage)  # 105 s, the outage, then 1,190 s: under 20 minutes
    assert "B" in gaps(5600 + 1210, outage)  # 1,210 s received since: over


def test_a_checkpoint_is_not_understaffed_for_time_nobody_received():
    g = small_grid()
    p = FRAME.to_degrees(Point(150, 50))
    cp = Checkpoint("cp1", "gate", p.x, p.y, radius_m=30, min_staff=2)
    params = patrol.PatrolParams(g, CellIndex(g.leaves), PatrolStandard(), [cp])
    st = patrol.PatrolState()
    # nobody at the checkpoint all along; the ingest received from 7200 s on (its first minute: 120)
    at = {c.subject: c for c in patrol.evaluate(st, params, T0, T0 + 7190, unobserved=[(T0, T0 + 7200)])}
    assert not at["cp1"].active
    at = {c.subject: c for c in patrol.evaluate(st, params, T0, T0 + 7500, unobserved=[(T0, T0 + 7200)])}
    assert at["cp1"].active and at["cp1"].at == T0 + 7200  # short since the first minute received, not 0


def test_a_team_shift_the_ingest_received_less_than_half_of_is_not_judged():
    st = patrol.PatrolState()
    for t in range(0, 3600, 60):
        patrol.add_fix(st, pfix("u1", t, 50, ("a", "b", "c")), "car")
    teams = {"u1": "S0"}
    # received 1,800 s of 3,600: judged (3 officers < 10); 1,799 s: unknown, nothing said
    (c,) = patrol.team_shifts(st, teams, [(T0, T0 + 3600)], 10, unobserved=[(T0, T0 + 1800)])
    assert c.active and c.detail["active"] == 3
    assert patrol.team_shifts(st, teams, [(T0, T0 + 3600)], 10, unobserved=[(T0, T0 + 1801)]) == []


def test_a_checkpoint_understaffed_from_the_first_short_minute():
    g = small_grid()
    p = FRAME.to_degrees(Point(150, 50))
    cp = Checkpoint("cp1", "gate", p.x, p.y, radius_m=30, min_staff=2)
    params = patrol.PatrolParams(g, CellIndex(g.leaves), PatrolStandard(), [cp])
    st = patrol.PatrolState()
    # o1 and o2 check in at 0; o2 checks out at 600 s: understaffed from minute 10 (600 s) on
    for officer in ("o1", "o2"):
        patrol.add_checkin(st, Checkin("cp1", T0, officer, "on", "nfc"))
    patrol.add_checkin(st, Checkin("cp1", T0 + 600, "o2", "off", "nfc"))
    at = {c.subject: c for c in patrol.evaluate(st, params, T0, T0 + 590)}
    assert not at["cp1"].active
    at = {c.subject: c for c in patrol.evaluate(st, params, T0, T0 + 1000)}
    assert at["cp1"].active and at["cp1"].at == T0 + 600 and at["cp1"].detail["present"] == 1
    # a car with o2 aboard parks within the radius from 1000 s: staffed again
    for t in range(1000, 1200, 10):
        patrol.add_fix(st, pfix("u9", t, 150, ("o2",)), "car")
    at = {c.subject: c for c in patrol.evaluate(st, params, T0, T0 + 1190)}
    assert not at["cp1"].active


def test_a_stalled_ingest_on_the_wall_clock():
    from alerts.rules import feed

    st = feed.FeedState(last_arrival=1000.0, lag_s=0.5, expecting=True)
    # quiet for 100 s of a 120 s limit: fine; for 130 s: stalled since 1120 s
    assert [c.active for c in feed.on_tick(st, 1100.0, 120, 60)] == [False]
    c = feed.on_tick(st, 1130.0, 120, 60)[0]
    assert c.active and c.at == 1120.0 and c.subject == "ingest"
    # nothing expected to talk (nothing heard yet): never stalled; a feed 90 s behind: stalled
    assert not feed.on_tick(feed.FeedState(), 5000.0, 120, 60)[0].active
    assert feed.on_tick(feed.FeedState(last_arrival=1000.0, lag_s=90.0, expecting=True), 1001.0, 120, 60)[0].active


def test_a_blind_spot_is_a_key_cell_in_a_gap_with_every_key_camera_blind():
    from alerts.rules import blind

    key = {"K1": ["camA", "camB"], "K2": []}
    run = Run()
    gap = (T.COVERAGE_GAP, "K1")
    # a gap and one of two cameras down: not blind; the second goes dark: blind (critical); the gap
    # resolves: no longer
    run.feed(blind.blind_spots({gap, (T.CAMERA_OFFLINE, "camA")}, key, T0), T0)
    assert run.opened() == []
    run.feed(blind.blind_spots({gap, (T.CAMERA_OFFLINE, "camA"), (T.IMAGE_DARK, "camB")}, key, T0 + 60), T0 + 60)
    assert run.opened() == [(T.BLIND_SPOT, "K1", T0 + 60)]
    assert run.changes[-1].alert.severity is Severity.CRITICAL
    run.feed(blind.blind_spots({(T.CAMERA_OFFLINE, "camA"), (T.IMAGE_DARK, "camB")}, key, T0 + 120), T0 + 120)
    assert run.resolved() == [(T.BLIND_SPOT, "K1", T0 + 120)]
    # a low frame rate is a fault, not blindness; a key cell without key cameras is never a blind spot
    assert not any(c.active for c in blind.blind_spots({gap, (T.CAMERA_LOW_FPS, "camA"), (T.CAMERA_OFFLINE, "camB"),
                                                         (T.COVERAGE_GAP, "K2")}, key, T0))


def test_a_team_under_strength_in_a_shift():
    # two units of team S0: u1 with officers a–d, u2 with e–g; a shift of an hour. Seen: 7 officers < 10
    st = patrol.PatrolState()
    for t in range(0, 3600, 60):
        patrol.add_fix(st, pfix("u1", t, 50, ("a", "b", "c", "d")), "car")
        patrol.add_fix(st, pfix("u2", t, 150, ("e", "f", "g")), "bike")
    teams = {"u1": "S0", "u2": "S0"}
    (c,) = patrol.team_shifts(st, teams, [(T0, T0 + 3600)], minimum=10)
    assert c.type is T.TEAM_UNDER_STRENGTH and c.subject == "S0" and c.active and c.detail["active"] == 7
    assert c.at == T0 + 3600  # judged when the shift ends
    # three more officers aboard u2 in the next shift: 10, it meets the standard
    for t in range(3600, 7200, 60):
        patrol.add_fix(st, pfix("u1", t, 50, ("a", "b", "c", "d")), "car")
        patrol.add_fix(st, pfix("u2", t, 150, ("e", "f", "g", "h", "i", "j")), "bike")
    (c,) = patrol.team_shifts(st, teams, [(T0 + 3600, T0 + 7200)], minimum=10)
    assert not c.active


def test_the_coverage_indicator_below_target_only_where_the_unknown_could_not_make_it_up():
    # 20 cells each: 17 covered = 0.85, with 1 unknown = 0.90 → could reach the target, not raised;
    # 16 covered and 1 unknown = 0.85 → below whatever the unknown was; 18 covered = 0.90 → meets it
    areas = [LevelCoverage("S1", Level.STREET, 20, 17 / 20, 1 / 20, 2 / 20),
             LevelCoverage("S2", Level.STREET, 20, 16 / 20, 1 / 20, 3 / 20),
             LevelCoverage("D1", Level.DISTRICT, 40, 36 / 40, 0.0, 4 / 40)]
    got = {c.subject: c for c in indicator.judge(areas, 0.90, 0.0, 86_400.0, {"S2": {"district": "D1"}})}
    assert {s for s, c in got.items() if c.active} == {"S2"}
    s2 = got["S2"]
    assert s2.type is AlertType.INDICATOR_BELOW_TARGET and s2.at == 86_400.0 and s2.scope == {"district": "D1"}
    assert s2.detail["covered"] == 0.8 and s2.detail["unknown"] == 0.05 and s2.detail["not_covered"] == 0.15
    life = Lifecycle(AlertSettings())
    opened = life.apply(list(got.values()), 86_400.0)
    assert [(c.action, c.alert.subject) for c in opened] == [(Action.OPEN, "S2")]
    # a day later it made up the shortfall: resolved
    better = LevelCoverage("S2", Level.STREET, 20, 19 / 20, 0.0, 1 / 20)
    closed = life.apply(indicator.judge([better], 0.90, 86_400.0, 172_800.0), 172_800.0)
    assert [(c.action, c.alert.subject) for c in closed] == [(Action.RESOLVE, "S2")]
