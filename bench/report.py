"""The quarterly assessment report of a 10,000-cell city from 90 stored days, in every format.

Setup: a generated city of 10,000 cells (its cameras and checkpoints) registered in a scratch
database, and the 90 days of 2026-Q1 stored as the daily assessment and the sweep store them
(``pingan.coverage_daily``: every cell's statuses, every key camera's seconds and every
checkpoint's minutes, 900,000 rows written by COPY; ``pingan.team_shift`` and
``pingan.reach_daily``: every team's shifts and every district's reach).

Timed, each as a user runs it (`pingan report assessment --period 2026-Q1 --format F` in a new
process, from the database to the file): json, csv, xlsx, html and pdf. Baseline, same run: the
floor — one SQL statement reading every stored row of the quarter once (its statuses summed and
its cameras' and checkpoints' figures unpacked), what any report over those days must wait for.

Last line: report_seconds=<the slowest format> (target ≤ 10).
The database: PINGAN_DATABASE_URL's server, else the embedded PostgreSQL; a scratch database
``pingan_bench_report`` is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assessment.standards import City, Standards  # noqa: E402
from assessment.strength import Rules  # noqa: E402
from bench.scratch import drop, scratch_database  # noqa: E402
from geofence.grid import Level  # noqa: E402
from geofence.staffing import shifts_of  # noqa: E402
from simulators.city import generate_city  # noqa: E402
from store.migrate import migrate  # noqa: E402
from store.registry import load_version, sync  # noqa: E402

TZ = "Asia/Shanghai"
DB = "pingan_bench_report"
FORMATS = ("json", "csv", "xlsx", "html", "pdf")


def store_days(conn: psycopg.Connection, city, first: date, days: int, rng) -> int:
    """`days` stored days of every cell: statuses drawn per district (some districts better
    patrolled than others), key cameras mostly up, checkpoints mostly staffed."""
    version = conn.execute("SELECT max(version) FROM pingan.registry_version").fetchone()[0]
    city = City.of(version, load_version(conn, version))  # (as the assessment reads it back)
    standard = Standards().digest()
    grid = city.grid
    leaves = grid.leaves
    district = {c.id: grid.above(c.id, Level.DISTRICT) for c in leaves}
    quality = {d: rng.uniform(0.80, 0.99) for d in set(district.values())}
    keys = set(Standards().defence.key_camera_categories)
    cams: dict[str, list[str]] = {}
    for cam, cell in zip(city.cameras, city.camera_cells, strict=True):
        if cell is not None and str(cam.category) in keys:
            cams.setdefault(cell, []).append(cam.id)
    cps: dict[str, list[str]] = {}
    for cp, cell in zip(city.checkpoints, city.checkpoint_cells, strict=True):
        if cell is not None:
            cps.setdefault(cell, []).append(cp.id)
    n = 0
    with conn.cursor() as cur, cur.copy("COPY pingan.coverage_daily (day, part_from, part_to, cell_id, version, "
                                        "status, patrol, cameras, checkpoints, visits, longest_gap_s, detail, "
                                        "standard) FROM STDIN") as copy:
        for k in range(days):
            day = first + timedelta(days=k)
            start = datetime.combine(day, datetime.min.time(), ZoneInfo(TZ))
            end = start + timedelta(days=1)
            draw = rng.random((len(leaves), 4))
            for c, r in zip(leaves, draw, strict=True):
                q = quality[district[c.id]]
                patrol = "covered" if r[0] < q else "unknown" if r[0] < q + 0.01 else "not_covered"
                detail = {"cameras": {}, "checkpoints": {}, "unknown_because": []}
                cam_status = cp_status = None
                for cam in cams.get(c.id, ()):
                    down = 0 if r[1] < 0.95 else int(r[1] * 20_000)
                    detail["cameras"][cam] = [86_400 - down, down, 0, int(down > 0)]
                    cam_status = "covered" if down < 4_320 else "not_covered"
                for cp in cps.get(c.id, ()):
                    staffed = 600 if r[2] < 0.9 else 500
                    detail["checkpoints"][cp] = [600, staffed, 0]
                    cp_status = "covered" if staffed >= 570 else "not_covered"
                parts = [patrol, cam_status, cp_status]
                status = ("not_covered" if "not_covered" in parts else "unknown" if "unknown" in parts else "covered")
                copy.write_row((day, start, end, c.id, version, status, patrol, cam_status, cp_status,
                                int(r[3] * 10), float(r[3] * 3600), json.dumps(detail), standard))
                n += 1
    conn.commit()
    # … and each day's team strength per shift and response reach per district, as the sweep keeps them
    rules = Rules()
    standard = rules.digest(Standards())
    teams = [c.id for c in grid.at_level(Level.STREET)]
    with conn.cursor() as cur:
        for k in range(days):
            day = first + timedelta(days=k)
            for a, b in shifts_of(day, rules.shifts, TZ):
                cur.executemany("INSERT INTO pingan.team_shift (day, team_id, shift_from, shift_to, active, minimum, "
                                "known, standard) VALUES (%s, %s, to_timestamp(%s), to_timestamp(%s), %s, %s, true, %s)",
                                [(day, t, a, b, int(rng.integers(6, 16)), rules.minimum, standard) for t in teams])
            cur.executemany("INSERT INTO pingan.reach_daily (day, district_id, reach_sum, samples, unknown, standard) "
                            "VALUES (%s, %s, %s, 24, 0, %s)",
                            [(day, d.id, float(rng.uniform(0.5, 1.0)) * 24, standard) for d in grid.at_level(Level.DISTRICT)])
    conn.commit()
    return n


def as_url(conninfo: str) -> str:
    """A connection string as the URL the settings take."""
    from urllib.parse import quote

    d = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = d.get("host", "")
    where = f"@/{d['dbname']}?host={quote(host)}" if host.startswith("/") else f"@{host}:{d.get('port', 5432)}/{d['dbname']}"
    return f"postgresql://{quote(d.get('user', 'postgres'))}{where}"


def floor(url: str, start: float, end: float) -> float:
    """One statement reading every stored row of the quarter once."""
    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            "SELECT status, patrol, count(*), sum(date_part('epoch', part_to - part_from)), "
            "sum((SELECT coalesce(sum((v->>0)::float8), 0) FROM jsonb_each(detail->'cameras') e(k, v))), "
            "sum((SELECT coalesce(sum((v->>1)::float8), 0) FROM jsonb_each(detail->'checkpoints') e(k, v))) "
            "FROM pingan.coverage_daily WHERE part_from >= to_timestamp(%s) AND part_to <= to_timestamp(%s) "
            "GROUP BY status, patrol", (start, end)).fetchall()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--period", default="2026-Q1", help="a quarter of 90 days (2026-Q1)")
    args = ap.parse_args()
    from assessment.periods import named_period

    period = named_period(args.period)
    days = (period.after - period.first).days
    admin, url = scratch_database(DB)
    try:
        t = time.perf_counter()
        city = generate_city(args.cells, seed=1)
        with psycopg.connect(url) as conn:
            conn.autocommit = True
            migrate(conn, timescaledb="off", timezone=TZ)
            conn.autocommit = False
            sync(conn, city.grid, city.cameras, city.checkpoints, [], "bench",
                 effective=period.bounds(TZ)[0] - 86_400)
            conn.commit()
            rows = store_days(conn, city, period.first, days, np.random.default_rng(7))
            conn.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon) VALUES (to_timestamp(%s), 'u1', 32, 118)",
                         (period.bounds(TZ)[0] + 3600,))  # (the period has data: else there is nothing to assess)
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE pingan.coverage_daily")
        print(f"{len(city.grid.leaves)} cells, {len(city.cameras)} cameras, {len(city.checkpoints)} checkpoints; "
              f"{args.period}: {days} stored days, {rows:,} rows; setup {time.perf_counter() - t:.0f} s", flush=True)
        start, end = period.bounds(TZ)
        base = min(floor(url, start, end) for _ in range(2))
        print(f"floor: one statement reading every stored row of the quarter: {base:.2f} s", flush=True)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}, "PINGAN_DATABASE_URL": as_url(url)}
        took = {}
        with tempfile.TemporaryDirectory() as out:
            for fmt in FORMATS:
                t = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "pingan.cli", "report", "assessment", "--period", args.period,
                                    "--format", fmt, "--out", out], env=env, capture_output=True, text=True)
                took[fmt] = time.perf_counter() - t
                assert r.returncode == 0, r.stderr[-3000:]
                (made,) = [p for p in Path(out).iterdir() if p.suffix == f".{fmt}"]
                print(f"  {fmt:5s} {took[fmt]:5.1f} s ({took[fmt] / base:.1f} × the floor), {made.stat().st_size:,} bytes",
                      flush=True)
                if fmt == "json":
                    doc = json.loads(made.read_text())
                    city_head = doc["headlines"][0]
                    print(f"        city coverage {city_head['value']:.1%}; {len(doc['districts'])} districts, "
                          f"{len(doc['streets'])} streets; {doc['about']['parts from stored days']} days from store")
        slowest = max(took, key=took.get)
        print(f"every format: {sum(took.values()):.1f} s in all; the slowest, {slowest}, {took[slowest]:.1f} s")
        print(f"report_seconds={took[slowest]:.1f}")
    finally:
        drop(admin, DB)


if __name__ == "__main__":
    main()
