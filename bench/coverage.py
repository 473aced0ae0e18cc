"""Defence-system coverage of one city-day, read from PostgreSQL: a generated city of 10,000
irregular cells (its cameras and checkpoints), 2,000 patrol units sending a fix every 10 s for
24 h (17.3M fixes), every camera a heartbeat a minute (some silent for half an hour).

Timed, in one run, on one database:
- the floor: a plain binary COPY of the day's fixes to nowhere (what any reader must wait for);
- the product's whole path (``Assessor.part``): the fixes read into arrays, every cell's patrol
  status, every key camera's uptime by time from its raw heartbeats (hours stored on the way),
  checkpoint staffing, the composite status, and the roll-ups to street, district and city;
- a quarter for the same city assembled from 92 stored days (``quarter_seconds``, target ≤ 10);
- a year of uptime for 10,000 cameras from the daily aggregate (``uptime_year_seconds``).

Last line: coverage_seconds=<the product's whole path for the day> (target ≤ 60 s, ≤ 4 GiB).
The database: PINGAN_DATABASE_URL's server, else the embedded PostgreSQL; a scratch database
``pingan_bench_coverage`` is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assessment.defence import Assessor  # noqa: E402
from assessment.standards import Standards  # noqa: E402
from assessment.uptime import camera_uptime  # noqa: E402
from geofence.grid import Level  # noqa: E402
from geofence.sites import Camera, CameraCategory  # noqa: E402
from simulators.city import CITY_BOUNDS, generate_city  # noqa: E402
from simulators.fleet import SPEED_MPS  # noqa: E402
from store.binary import discard  # noqa: E402
from store.migrate import migrate  # noqa: E402
from store.registry import UnitRow, sync  # noqa: E402
from store.results import record_uptime  # noqa: E402

TZ = "Asia/Shanghai"
_PG_EPOCH = 946_684_800.0


def fleet(units: int, fixes: int, every_s: float, t0: float, seed: int = 3):
    """Random-walk tracks at the units' speeds, reflected at the city's edge."""
    west, south, east, north = CITY_BOUNDS
    rng = np.random.default_rng(seed)
    kinds = np.array(list(SPEED_MPS))[rng.integers(0, 3, units)]
    speed = np.array([SPEED_MPS[k] for k in kinds])
    heading = np.cumsum(rng.normal(0, 0.35, (units, fixes)), axis=1) + rng.uniform(0, 2 * np.pi, (units, 1))
    step = (speed * every_s)[:, None]
    lon = np.cumsum(np.cos(heading) * step / 94_400, axis=1) + rng.uniform(west, east, (units, 1))
    lat = np.cumsum(np.sin(heading) * step / 111_000, axis=1) + rng.uniform(south, north, (units, 1))
    lon = west + np.abs(((lon - west) + (east - west)) % (2 * (east - west)) - (east - west))  # reflect
    lat = south + np.abs(((lat - south) + (north - south)) % (2 * (north - south)) - (north - south))
    ts = t0 + np.arange(fixes) * every_s
    return kinds, ts, lon, lat


def _copy_fixed(conn: psycopg.Connection, table: str, columns: list[str], fields: list[tuple[str, str, np.ndarray]]):
    """Binary COPY of fixed-width columns built in NumPy: fields are (name, wire dtype, values)."""
    dtype = np.dtype([("n", ">i2")] + [x for name, wire, _ in fields for x in ((f"l_{name}", ">i4"), (name, wire))])
    rows = np.zeros(len(fields[0][2]), dtype=dtype)
    rows["n"] = len(fields)
    for name, wire, values in fields:
        rows[f"l_{name}"] = np.dtype(wire).itemsize
        rows[name] = values
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.SQL(table), sql.SQL(", ").join(map(sql.Identifier, columns)))) as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
        step = 500_000
        for k in range(0, len(rows), step):
            copy.write(rows[k:k + step].tobytes())
        copy.write(b"\xff\xff")


def _us(ts: np.ndarray) -> np.ndarray:
    return np.round((ts - _PG_EPOCH) * 1e6).astype(np.int64)


def load(conn, city, kinds, ts, lon, lat, day0: float, rng) -> None:
    """The day's fixes and heartbeats, loaded the fast way (keys built after the rows)."""
    units = [f"u{u:04d}" for u in range(len(kinds))]
    conn.execute("ALTER TABLE pingan.patrol_ping DROP CONSTRAINT patrol_ping_pkey")
    conn.execute("ALTER TABLE pingan.camera_health DROP CONSTRAINT camera_health_pkey")
    n = lon.size
    unit_col = np.repeat(np.array(units, dtype="S5"), len(ts))
    _copy_fixed(conn, "pingan.patrol_ping", ["ts", "unit_id", "lat", "lon"],
                [("ts", ">i8", np.tile(_us(ts), len(units))), ("unit_id", "S5", unit_col),
                 ("lat", ">f8", lat.ravel()), ("lon", ">f8", lon.ravel())])
    del unit_col
    # heartbeats a minute; one camera in twenty silent for half an hour at a random time
    beats = day0 - 3600 + 60 * np.arange(26 * 60)
    cams = [c.id for c in city.cameras]
    keep = np.ones((len(cams), len(beats)), dtype=bool)
    for i in np.nonzero(rng.random(len(cams)) < 0.05)[0]:
        k = int(rng.integers(60, 24 * 60))
        keep[i, k:k + 30] = False
    ci, bi = np.nonzero(keep)
    _copy_fixed(conn, "pingan.camera_health", ["ts", "camera_id", "online"],
                [("ts", ">i8", _us(beats[bi])), ("camera_id", f"S{len(cams[0])}", np.array(cams, dtype="S")[ci]),
                 ("online", "u1", np.ones(len(ci), dtype=np.uint8))])
    conn.execute("ALTER TABLE pingan.patrol_ping ADD PRIMARY KEY (unit_id, ts)")
    conn.execute("ALTER TABLE pingan.camera_health ADD PRIMARY KEY (camera_id, ts, source)")
    record_uptime(conn, "bench", day0 - 2 * 3600, day0 + 26 * 3600, source="import")
    conn.execute("ANALYZE pingan.patrol_ping")
    conn.execute("ANALYZE pingan.camera_health")
    print(f"loaded {n / 1e6:.1f}M fixes and {len(ci) / 1e6:.1f}M heartbeats", flush=True)


def scratch_database(name: str) -> str:
    url = os.environ.get("PINGAN_DATABASE_URL")
    if not url:
        from pingan.services import embedded_database

        url = embedded_database(Path(os.environ.get("PINGAN_BENCH_DATA_DIR", "/tmp/pingan-bench")) / "pgdata")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(url, dbname=name), url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between fixes")
    ap.add_argument("--year-cameras", type=int, default=10_000)
    a = ap.parse_args()
    zone = ZoneInfo(TZ)
    day = datetime(2026, 11, 20, tzinfo=zone)
    day0 = day.timestamp()
    day1 = day0 + 86_400
    rng = np.random.default_rng(5)
    t = time.perf_counter()
    city = generate_city(a.cells, seed=1)
    kinds, ts, lon, lat = fleet(a.units, int(86_400 / a.every), a.every, day0)
    url, admin = scratch_database("pingan_bench_coverage")
    print(f"{len(city.grid.leaves)} cells in {len(city.grid.at_level(Level.STREET))} streets and "
          f"{len(city.grid.at_level(Level.DISTRICT))} districts, {len(city.cameras)} cameras, "
          f"{len(city.checkpoints)} checkpoints; {a.units} units × {len(ts)} fixes = {lon.size / 1e6:.1f}M fixes; "
          f"database {conninfo_to_dict(url).get('dbname')}", flush=True)
    try:
        with psycopg.connect(url) as conn:
            conn.autocommit = True
            migrate(conn, timescaledb="off", timezone=TZ)
            conn.autocommit = False
            sync(conn, city.grid, city.cameras, city.checkpoints,
                 [UnitRow(f"u{u:04d}", str(k)) for u, k in enumerate(kinds)], "bench")
            conn.commit()
            conn.autocommit = True
            load(conn, city, kinds, ts, lon, lat, day0, rng)
        del ts, lon, lat
        print(f"setup {time.perf_counter() - t:.0f} s", flush=True)
        measure(url, day0, day1, a)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS pingan_bench_coverage WITH (FORCE)")


def measure(url: str, day0: float, day1: float, a) -> None:
    with psycopg.connect(url) as conn:
        t = time.perf_counter()
        size = discard(conn, "SELECT unit_id, ts, lon, lat FROM pingan.patrol_ping WHERE ts >= to_timestamp(%s) "
                             "AND ts < to_timestamp(%s)", (day0, day1))
        conn.commit()
        floor = time.perf_counter() - t
        print(f"floor: binary COPY of the day's fixes to nowhere: {floor:.1f} s ({size / 1e6:.0f} MB)", flush=True)
        # a week later: the day is closed. Timed from here as `pingan coverage` runs: the grid
        # version read and its cell index built, then the day.
        assessor = Assessor(conn, Standards(), clock=lambda: day1 + 7 * 86_400)
        t = time.perf_counter()
        result = assessor.period(day0, day1)  # one part; a closed day, so it is stored too
        levels = {lvl: assessor.areas(result, lvl, "area") for lvl in (Level.STREET, Level.DISTRICT, Level.CITY)}
        wall = time.perf_counter() - t
        part = result.detail
        tm = assessor.timings
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
        status: dict[str, int] = {}
        for c in part.cells.values():
            status[str(c.status)] = status.get(str(c.status), 0) + 1
        (cty,) = levels[Level.CITY]
        print(f"cells: {status}; city covered {cty.covered:.1%} of its area, unknown {cty.unknown:.1%}")
        rest = wall - sum(tm.values())
        print(f"read the fixes: {tm['read']:.1f} s ({tm['read'] / floor:.2f} × the floor); patrol status: "
              f"{tm['patrol']:.1f} s; key cameras from raw heartbeats: {tm['cameras']:.1f} s; checkpoints: "
              f"{tm['checkpoints']:.1f} s; the rest (versions, store the day, roll-ups): {rest:.1f} s")
        print(f"the city-day from PostgreSQL: {wall:.1f} s, peak RSS {rss:.2f} GiB (target 60 s, 4 GiB)", flush=True)
        quarter(conn, assessor, day0)
        year(conn, a.year_cameras, day0)
    print(f"coverage_seconds={wall:.1f}")


def quarter(conn, assessor: Assessor, day0: float) -> None:
    """92 stored days (the measured day, and 91 more like it) assembled into a quarter."""
    conn.execute("INSERT INTO pingan.coverage_daily SELECT day - k, part_from - k * interval '1 day', "
                 "part_to - k * interval '1 day', cell_id, version, status, patrol, cameras, checkpoints, visits, "
                 "longest_gap_s, gap_from, gap_to, detail, standard, computed_at FROM pingan.coverage_daily, "
                 "generate_series(1, 91) k")
    conn.commit()
    q0 = day0 - 91 * 86_400
    t = time.perf_counter()
    r = assessor.period(q0, day0 + 86_400)
    areas = {lvl: assessor.areas(r, lvl) for lvl in (Level.STREET, Level.DISTRICT, Level.CITY)}
    secs = time.perf_counter() - t
    (cty,) = areas[Level.CITY]
    print(f"a quarter ({len(r.parts)} days, {r.stored_parts} from stored days) for every cell and area: {secs:.1f} s "
          f"(target 10 s); city covered {cty.covered:.1%} of cell-days")
    print(f"quarter_seconds={secs:.1f}", flush=True)


def year(conn, n: int, day0: float) -> None:
    """A year of uptime for n cameras from the daily aggregate (its rows made up for the bench)."""
    y0 = datetime(2025, 11, 20, tzinfo=ZoneInfo(TZ)).timestamp()
    conn.execute(
        "INSERT INTO pingan.camera_uptime_daily SELECT 'y' || lpad(c::text, 5, '0'), to_timestamp(%s) + d * "
        "interval '1 day', 86400 - (c %% 7) * 60, (c %% 7) * 60, 0, (c %% 7 > 0)::int, 24, 60, 60, 3, 3, now() "
        "FROM generate_series(1, %s) c, generate_series(0, 364) d", (y0, n))
    conn.commit()
    conn.execute("ANALYZE pingan.camera_uptime_daily")
    conn.commit()
    cams = [Camera(f"y{c:05d}", "", CameraCategory.MAIN_STREET, 25, 0, 0) for c in range(1, n + 1)]
    t = time.perf_counter()
    ups = camera_uptime(conn, cams, Standards(), y0, y0 + 365 * 86_400, day0 + 86_400 * 30, store=False)
    secs = time.perf_counter() - t
    worst = min(ups, key=lambda u: u.up_s)
    print(f"a year of uptime for {n:,} cameras from the daily aggregate: {secs:.1f} s "
          f"(worst {worst.camera_id}: {worst.uptime:.2%})")
    print(f"uptime_year_seconds={secs:.1f}", flush=True)


if __name__ == "__main__":
    main()
