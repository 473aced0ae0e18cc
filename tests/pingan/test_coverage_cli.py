"""`pingan coverage` over what the store holds: a unit driving through two cells of the demo
city for an hour, a camera's heartbeats, the demo checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

START = datetime(2026, 11, 20, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def coverage(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    env["PINGAN_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "pingan.cli", "coverage", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def drive(db_url):
    # u01 drives east along 32.0275 N from 118.741 to 118.775 E at constant speed, a fix every
    # 10 s from 08:00 to 09:00: in D1S1G1 until it crosses 118.76 E at 2011 s, then in D1S1G2.
    n = 361
    ts = [START + 10 * i for i in range(n)]
    lons = [118.741 + (118.775 - 118.741) * i / (n - 1) for i in range(n)]
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon, officers) "
                    "SELECT to_timestamp(t), 'u01', 32.0275, x, ARRAY['a', 'b'] FROM unnest(%s::float8[], %s::float8[]) "
                    "AS f(t, x)", (ts, lons))
        # cam01 (a main-street camera in D1S1G1) reports every minute, online throughout
        cur.execute("INSERT INTO pingan.camera_health (ts, camera_id, online, fps) "
                    "SELECT to_timestamp(%s + 60 * i), 'cam01', true, 25 FROM generate_series(0, 59) i", (START,))
    return db_url


def test_coverage_json_per_cell_and_area(drive):
    r = coverage(drive, "--from", "2026-11-20T08:00", "--to", "2026-11-20T09:00", "--level", "street", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    cells = doc["cells"]
    assert len(cells) == 16 and doc["level"] == "street"
    g1, g2 = cells["D1S1G1"], cells["D1S1G2"]
    assert g1["visits"] == 1 and g1["longest_gap_s"] == pytest.approx(3600 - 2011, abs=15)
    assert g1["patrol"] == "covered"  # ≤ 30 min for key cells, ≤ 120 min for others
    assert g1["status"] == "covered"  # its key camera was up the whole hour
    assert g2["visits"] == 1 and g2["longest_gap_s"] == pytest.approx(2011, abs=15)
    assert g2["patrol"] == ("covered" if 2011 <= g2["revisit_s"] else "not_covered")
    untouched = [c for c in cells.values() if c["visits"] == 0]
    assert len(untouched) == 14 and all(c["patrol"] == "not_covered" for c in untouched)
    streets = {a["id"]: a for a in doc["areas"]}
    assert set(streets) == {"D1S1", "D1S2", "D2S1", "D2S2"}
    assert streets["D1S2"]["covered"] == 0 and streets["D1S1"]["cells"] == 4
    assert streets["D1S1"]["covered"] == pytest.approx(sum(
        cells[c]["status"] == "covered" for c in ("D1S1G1", "D1S1G2", "D1S1G3", "D1S1G4")) / 4)


def test_coverage_table_and_errors(drive):
    r = coverage(drive, "--from", "2026-11-20T08:00", "--to", "2026-11-20T09:00", "--level", "district", "--by", "area")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Coverage 2026-11-20 08:00 → 2026-11-20 09:00 (Asia/Shanghai), district level, weighted by cell area" in r.stdout
    assert "D1 " in r.stdout and "target ≥ 90% covered: 0 of 2 met (below: D1, D2)" in r.stdout
    r = coverage(drive, "--from", "yesterday", "--to", "2026-11-20")
    assert r.returncode == 2 and "'yesterday' is not a date" in r.stderr
    r = coverage(drive, "--from", "2026-11-20", "--to", "2026-11-19")
    assert r.returncode == 2 and "--to must be after --from" in r.stderr


def test_standards_come_from_the_configuration(drive):
    env_dwell = {"PINGAN_COVERAGE__MIN_DWELL_CAR_S": "100000"}  # no stay is long enough to be a visit
    envs = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    r = subprocess.run([sys.executable, "-m", "pingan.cli", "coverage", "--from", "2026-11-20T08:00", "--to",
                        "2026-11-20T09:00", "--json"], env={**envs, "PINGAN_DATABASE_URL": drive, **env_dwell},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    cells = json.loads(r.stdout)["cells"]
    assert all(c["visits"] == 0 and c["patrol"] == "not_covered" for c in cells.values())
