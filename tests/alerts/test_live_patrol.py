"""The live patrol rules, carried forward evaluation by evaluation and from one period into the
next, say at every evaluation what
the batch computations say over the whole period so far from every fix received (the way the live
rules were judged before: ``geofence.coverage.patrol_coverage`` and
``geofence.staffing.checkpoint_staffing`` called afresh): random patrols in and out of two cells
and past a checkpoint, silences, an ingest outage, fixes arriving out of order within the
lateness, repeats, check-ins."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st_
from shapely.geometry import Point

from alerts.rules import patrol
from alerts.types import AlertType
from geofence.coverage import CellStatus, PatrolStandard, Track, patrol_coverage
from geofence.grid import Priority
from geofence.lookup import CellIndex
from geofence.sites import Checkpoint
from geofence.staffing import CheckinEvent, CrewFix, checkpoint_staffing
from store.records import Checkin, PatrolFix

from .test_rules import FRAME, T0, small_grid

T = AlertType
STD = PatrolStandard(max_gap_s=300, step_m=25, min_dwell_s={"car": 30.0, "foot": 60.0},
                     revisit_minutes={Priority.KEY: 10, Priority.NORMAL: 20})
LATENESS = 60
EVERY = 30
PERIOD = 4000  # (the traffic runs two hours: a period ends in it, and a stay goes on across its end)


class Whole:
    """The rules over the whole period from every fix received, recomputed at each evaluation."""

    def __init__(self, grid, cp: Checkpoint):
        self.grid, self.index, self.cp = grid, CellIndex(grid.leaves), cp
        self.fixes: dict[str, dict[float, tuple]] = {}
        self.kinds: dict[str, str] = {}
        self.checkins: list[CheckinEvent] = []
        self.gaps: dict[str, float] = {}
        self.visits: dict[str, float] = {}  # each cell's latest visit end as ever seen (what the API shows)

    def add(self, f: PatrolFix, kind: str) -> None:
        self.kinds[f.unit_id] = kind
        self.fixes.setdefault(f.unit_id, {}).setdefault(f.ts, []).append((f.lon, f.lat, tuple(f.officers)))

    def evaluate(self, start: float, now: float, unobserved, closed: bool = False):
        checkins = [c for c in self.checkins]
        tracks, crews = [], []
        for uid, by_ts in self.fixes.items():
            ts = sorted(by_ts)
            rows = [min(by_ts[t]) for t in ts]
            tracks.append(Track.of(uid, self.kinds[uid], ts, [r[0] for r in rows], [r[1] for r in rows]))
            every = [(t, *r) for t in ts for r in by_ts[t]]
            crews.append(CrewFix(uid, np.array([e[0] for e in every]), np.array([e[1] for e in every]),
                                 np.array([e[2] for e in every]), [e[3] for e in every]))
        cov = patrol_coverage(self.grid, self.index, tracks, start, now, STD, unobserved)
        gaps = {}
        for cell, c in cov.items():
            if c.last_visit_end is not None:
                self.visits[cell] = max(self.visits.get(cell, -np.inf), c.last_visit_end)
            opened = self.gaps.get(cell)
            if opened is not None:
                if c.last_visit_end is not None and c.last_visit_end > opened:
                    del self.gaps[cell]
                else:
                    gaps[cell] = opened
                continue
            if c.trailing is CellStatus.NOT_COVERED or (closed and c.status is CellStatus.NOT_COVERED and not c.visits):
                self.gaps[cell] = gaps[cell] = now
        s = checkpoint_staffing(self.cp, crews, checkins, start, now, STD.timezone, unobserved)
        run = s.understaffed[-1] if s.understaffed else None
        last_minute = start + 60 * np.ceil((now - start) / 60)
        short = (run[0], run[2]) if run is not None and run[1] >= last_minute else None
        return gaps, short, dict(self.visits)


def said(conds):
    gaps = {c.subject: c.at for c in conds if c.type is T.COVERAGE_GAP and c.active}
    (cp,) = [c for c in conds if c.type is T.CHECKPOINT_UNDERSTAFFED]
    return gaps, ((cp.at, cp.detail["present"]) if cp.active else None)


def traffic(seed: int):
    """Fixes of three units (x along the two cells, from outside on one side to the other), with
    silences; delivered in time order but for shuffles within the lateness and repeats."""
    rng = np.random.default_rng(seed)
    out = []
    for u, kind in enumerate(("car", "car", "foot")):
        x, t = rng.uniform(-50, 250), rng.uniform(0, 600)
        officers = tuple(f"o{u}{k}" for k in range(rng.integers(0, 3)))
        while t < 7200:
            if rng.random() < 0.01:  # silent for a while (a segment longer than max_gap_s)
                t += rng.uniform(100, 1500)
            x = float(np.clip(x + rng.normal(0, 12 if kind == "car" else 4), -60, 260))
            if rng.random() < 0.004:  # a jump across the map
                x = float(rng.uniform(-50, 250))
            out.append(PatrolFix(f"u{u}", T0 + round(t), *FRAME.to_degrees(Point(x, 50)).coords[0][::-1],
                                 officers=officers))
            t += rng.choice([5, 10, 10, 10, 20])
    out.sort(key=lambda f: f.ts + rng.uniform(0, LATENESS * 0.9))  # arrival order
    for i in sorted(rng.integers(0, len(out), 40).tolist(), reverse=True):  # a repeat comes after its first
        out.insert(int(rng.integers(i + 1, len(out) + 1)), out[i])
    a = T0 + rng.uniform(1000, 5000)
    unobserved = [(T0, T0 + rng.uniform(0, 900)), (a, a + rng.uniform(60, 1500))]
    return out, unobserved


@settings(max_examples=int(os.environ.get("LIVE_PATROL_EXAMPLES", 40)), deadline=None, derandomize=True)
@given(st_.integers(0, 2**32 - 1))
def test_live_judgements_match_the_whole_period_recomputed(seed):
    g = small_grid()
    p0 = FRAME.to_degrees(Point(150, 50))
    cp = Checkpoint("cp1", "gate", p0.x, p0.y, radius_m=30, min_staff=2)
    params = patrol.PatrolParams(g, CellIndex(g.leaves), STD, [cp])
    live, whole = patrol.PatrolState(), Whole(g, cp)
    fixes, unobserved = traffic(seed)
    kinds = {"u0": "car", "u1": "car", "u2": "foot"}
    checkins = [Checkin("cp1", T0 + 1200, "x1", "on", "nfc"), Checkin("cp1", T0 + 1300, "x2", "on", "nfc"),
                Checkin("cp1", T0 + 2500, "x1", "off", "nfc")]
    newest, next_at, evaluations, period = -np.inf, T0 + EVERY, 0, T0

    def both(start, now, closed=False):
        if now <= start:
            return  # (nothing of the period has passed: nothing judged, live or batch)
        seen = [(max(a, start), min(b, now)) for a, b in unobserved if a < now and b > start]
        got = said(patrol.evaluate(live, params, start, now, closed=closed, unobserved=seen))
        want_gaps, want_short, want_visits = whole.evaluate(start, now, seen, closed)
        assert got == (want_gaps, want_short), f"at {now - T0:.0f} s of the period from {start - T0:.0f} s: {got} != {(want_gaps, want_short)}"
        assert live.visits == want_visits

    for f in fixes:
        while checkins and checkins[0].ts <= f.ts:  # each check-in arrives once, in time
            c = checkins.pop(0)
            patrol.add_checkin(live, c)
            whole.checkins.append(CheckinEvent(c.ts, c.officer, c.action))
        patrol.add_fix(live, f, kinds[f.unit_id])
        whole.add(f, kinds[f.unit_id])
        newest = max(newest, f.ts)
        if newest - LATENESS >= next_at:
            now = newest - LATENESS
            next_at = now + EVERY
            if now >= period + PERIOD:  # the period ended: judged closed at its end, then the next begins
                both(period, period + PERIOD, closed=True)
                period += PERIOD
                patrol.prune(live, period)
            both(period, now)
            evaluations += 1
    both(period, newest, closed=True)
    assert evaluations > 100
