"""A city's whole day through the live alert rules: is an evening's evaluation as cheap as a
morning's, and does the service stay the same size?

A generated city of 10,000 cells (its cameras, its checkpoints — half staffed around the clock,
half 07:00–22:00 — and a township team per street), 2,000 patrol units each sending a fix every
10 s for 24 h (17.3M fixes, random walks at the units' speeds), replayed in event-time order as
fast as this process keeps up, into the rules the alert service runs (``alerts.evaluation``:
each fix through its rule, then every ``coverage_every_s`` of event time the coverage gaps,
checkpoint staffing and team strength judged ``lateness_s`` behind, and absence swept) and the
alert lifecycle, with the shipped settings. The fixes are handed over in memory (the feed's own
cost is what ``bench/alerts.py`` measures); each evaluation is timed alone.

Measured:
- each evaluation's cost through the day: around 01:00 and around 23:30 (median of the half
  hour before each), the ratio (target ≤ 2), and the p99 over the whole day — the time an alert
  that fell due at an evaluation waits beyond it (target ≤ 1 s);
- the process's resident memory at 01:00 and at 23:30 (target: ratio ≤ 2);
- **baseline**, in the same run: the rule as it was, judging the whole day so far from every fix
  held (``geofence.coverage.patrol_coverage`` and ``geofence.staffing.checkpoint_staffing`` over
  [00:00, now)), timed at 01:00 and at 23:30 in a process of its own that holds the fixes; its
  cells in a coverage gap there must be the live rules' (the run fails otherwise).

Last line: city_day_p99_seconds=<p99 of one evaluation's cost over the day>.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.evaluation import Evaluation  # noqa: E402
from alerts.lifecycle import Lifecycle  # noqa: E402
from alerts.rules import NOTHING_MISSED  # noqa: E402
from alerts.settings import AlertSettings  # noqa: E402
from assessment.standards import City, Standards  # noqa: E402
from geofence.coverage import CellStatus, Track, patrol_coverage  # noqa: E402
from geofence.grid import Level  # noqa: E402
from geofence.staffing import CrewFix, checkpoint_staffing  # noqa: E402
from simulators.city import CITY_BOUNDS, generate_city  # noqa: E402
from simulators.fleet import SPEED_MPS  # noqa: E402
from store.records import PatrolFix  # noqa: E402

TZ = "Asia/Shanghai"
DAY0 = datetime(2026, 11, 20, tzinfo=ZoneInfo(TZ)).timestamp()


class Walk:
    """Random walks at the units' speeds, reflected at the city's edge, an hour at a time."""

    def __init__(self, units: int, every_s: float, seed: int = 3):
        self.rng = np.random.default_rng(seed)
        self.every_s = every_s
        west, south, east, north = CITY_BOUNDS
        self.kinds = np.array(list(SPEED_MPS))[self.rng.integers(0, 3, units)]
        self.step = np.array([SPEED_MPS[k] for k in self.kinds]) * every_s
        self.heading = self.rng.uniform(0, 2 * np.pi, units)
        self.x = self.rng.uniform(west, east, units) - west  # unreflected, from the west and south edges
        self.y = self.rng.uniform(south, north, units) - south
        self.t = DAY0

    def hour(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next hour's fixes: ts (n,), lon and lat (units, n)."""
        west, south, east, north = CITY_BOUNDS
        n = int(3600 / self.every_s)
        heading = self.heading[:, None] + np.cumsum(self.rng.normal(0, 0.35, (len(self.kinds), n)), axis=1)
        x = self.x[:, None] + np.cumsum(np.cos(heading) * self.step[:, None] / 94_400, axis=1)
        y = self.y[:, None] + np.cumsum(np.sin(heading) * self.step[:, None] / 111_000, axis=1)
        self.heading, self.x, self.y = heading[:, -1], x[:, -1], y[:, -1]
        w, h = east - west, north - south
        lon = west + np.abs((x + w) % (2 * w) - w)
        lat = south + np.abs((y + h) % (2 * h) - h)
        ts = self.t + self.every_s * np.arange(1, n + 1)
        self.t = float(ts[-1])
        return ts, lon, lat


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def the_city(cells: int, units: int):
    city = generate_city(cells, seed=1)
    kinds = Walk(units, 10.0).kinds
    ids = [f"u{u:04d}" for u in range(units)]
    streets = [s.id for s in city.grid.at_level(Level.STREET)]
    teams = {uid: streets[u % len(streets)] for u, uid in enumerate(ids)}
    return City(1, city.grid, city.cameras, city.checkpoints, dict(zip(ids, map(str, kinds), strict=True))), ids, teams


def live(a) -> dict:
    city, ids, teams = the_city(a.cells, a.units)
    settings, std = AlertSettings(), Standards()
    ev = Evaluation(settings, std, city, teams)
    life = Lifecycle(settings)
    officers = [(f"{uid}-a", f"{uid}-b") for uid in ids]
    walk = Walk(a.units, a.every)
    lateness, every = settings.lateness_s, settings.coverage_every_s
    costs: list[tuple[float, float]] = []  # (event time, seconds)
    rss: dict[str, float] = {}
    gaps: dict[float, set[str]] = {}  # the cells in an open coverage gap, as judged at the marks
    opened = 0
    next_eval = DAY0 + every
    t_start = time.perf_counter()
    for hour in range(a.hours):
        ts, lon, lat = walk.hour()
        cells = city.index.lookup(lon.ravel(), lat.ravel())
        n = len(ts)
        for k in range(n):
            t = float(ts[k])
            for u in range(a.units):
                f = PatrolFix(ids[u], t, float(lat[u, k]), float(lon[u, k]), officers=officers[u],
                              cell_id=cells[u * n + k])
                life.apply(ev.record(f), t)
            if t >= next_eval:
                next_eval = t + every
                w0 = time.perf_counter()
                conds = ev.judge(DAY0, t - lateness, False, [], NOTHING_MISSED) + ev.absence(t)
                opened += sum(c.action.value == "open" for c in life.apply(conds, t) + life.tick(t))
                costs.append((t, time.perf_counter() - w0))
                if t in a.marks:
                    gaps[t] = set(ev.state.patrol.gaps)
            for mark in ("01:00", "23:30"):
                h, m = map(int, mark.split(":"))
                if t == DAY0 + 3600 * h + 60 * m:
                    rss[mark] = rss_mb()
        print(f"  {hour + 1:2d}:00 replayed ({time.perf_counter() - t_start:.0f} s); last evaluation "
              f"{costs[-1][1] * 1000:.0f} ms; rss {rss_mb():.0f} MB; alerts opened {opened}", flush=True)
    return {"costs": costs, "rss": rss, "replay_s": time.perf_counter() - t_start, "opened": opened, "gaps": gaps}


def baseline(a, mark: float, out) -> None:
    """The former rule at `mark`: every fix of the day so far held, the whole day judged again."""
    city, ids, _ = the_city(a.cells, a.units)
    walk = Walk(a.units, a.every)
    parts = []
    while walk.t < mark:
        parts.append(walk.hour())
    ts = np.concatenate([p[0] for p in parts])
    lon = np.concatenate([p[1] for p in parts], axis=1)
    lat = np.concatenate([p[2] for p in parts], axis=1)
    keep = ts <= mark
    ts, lon, lat = ts[keep], lon[:, keep], lat[:, keep]
    std = Standards()
    at = mark - AlertSettings().lateness_s
    t0 = time.perf_counter()
    tracks = [Track.of(uid, city.kinds[uid], ts, lon[u], lat[u]) for u, uid in enumerate(ids)]
    cov = patrol_coverage(city.grid, city.index, tracks, DAY0, at, std.patrol, [])
    crews = [CrewFix(uid, ts, lon[u], lat[u], [(f"{uid}-a", f"{uid}-b")] * len(ts)) for u, uid in enumerate(ids)]
    for cp in city.checkpoints:
        checkpoint_staffing(cp, crews, (), DAY0, at, std.timezone, [])
    out.put((time.perf_counter() - t0, {c for c, v in cov.items() if v.trailing is CellStatus.NOT_COVERED}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between a unit's fixes")
    ap.add_argument("--hours", type=int, default=24, help="hours of the day replayed (a shorter run: a smoke test)")
    a = ap.parse_args()
    city, _, _ = the_city(a.cells, a.units)
    print(f"{len(city.grid.leaves)} cells, {len(city.checkpoints)} checkpoints; {a.units} units, a fix every "
          f"{a.every:.0f} s for {a.hours} h ({a.units * a.hours * 3600 / a.every / 1e6:.1f}M fixes)", flush=True)
    del city
    late = min(a.hours * 3600, 23.5 * 3600)
    a.marks = (DAY0 + 3600, DAY0 + late)
    r = live(a)
    costs = np.array([c for _, c in r["costs"]])
    at = np.array([t for t, _ in r["costs"]])

    def around(h: float) -> float:
        sel = (at > DAY0 + h - 1800) & (at <= DAY0 + h)
        return float(np.median(costs[sel]))

    early, evening = around(3600), around(late)
    p99 = float(np.percentile(costs, 99))
    print(f"replayed {a.hours} h in {r['replay_s']:.0f} s ({a.hours * 3600 / r['replay_s']:.0f}× event time); "
          f"{len(costs)} evaluations, {r['opened']} alerts opened")
    print(f"one evaluation: {early * 1000:.0f} ms at 01:00, {evening * 1000:.0f} ms at {late / 3600:.1f} h "
          f"(ratio {evening / early:.2f}); max {costs.max() * 1000:.0f} ms; p99 {p99 * 1000:.0f} ms")
    if "01:00" in r["rss"] and "23:30" in r["rss"]:
        print(f"resident memory: {r['rss']['01:00']:.0f} MB at 01:00, {r['rss']['23:30']:.0f} MB at 23:30 "
              f"(ratio {r['rss']['23:30'] / r['rss']['01:00']:.2f})")
    ctx = mp.get_context("fork")
    for name, mark in zip(("01:00", f"{late / 3600:.1f} h"), a.marks, strict=True):
        q = ctx.Queue()
        p = ctx.Process(target=baseline, args=(a, mark, q))
        p.start()
        took, gaps = q.get()
        p.join()
        live_gaps = r["gaps"].get(mark, set())
        print(f"baseline (the whole day so far judged again) at {name}: {took:.1f} s; cells in a coverage gap: "
              f"{len(gaps)} by it, {len(live_gaps)} live — {'the same cells' if gaps == live_gaps else 'DIFFERENT'}",
              flush=True)
        if gaps != live_gaps:
            sys.exit(f"the live rules and the batch disagree at {name}: {sorted(gaps ^ live_gaps)[:10]} …")
    print(f"city_day_p99_seconds={p99:.3f}")


if __name__ == "__main__":
    main()
