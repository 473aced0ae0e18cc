"""`pingan coverage` over what the store holds, on plain PostgreSQL and on TimescaleDB, every
answer worked out by hand below (demo city; 2026-11-20, 08:00 → 09:00 Shanghai time).

The hour's data:
- u01 (car) drives east along 32.0275 N from 118.741 to 118.775 E, a fix every 10 s: in
  D1S1G1 until it crosses 118.76 E at 2011 s (08:33:31), then in D1S1G2.
- cam01 (main street, D1S1G1): a heartbeat every minute 07:00 → 09:10, all online.
- cam02 (busy junction, D1S1G3): the same, but silent from 08:20 to 08:35: down from 08:21 (its
  next heartbeat was due) to 08:35: 14 minutes; 46 of 60 minutes up.
- cam04 (key site, D1S1G4): heartbeats to 08:10, "offline" at 08:10:30 (its status, with the
  device's time), heartbeats again from 08:25:30: down exactly 15 minutes; 75% up.
- u02 (bike) sits in D1S2G1 07:00 → 07:30, says nothing until 09:30, then sits there again: a
  silence across the whole hour.
- u03 (foot) sits in D1S2G2 (a key cell: 30 min) 08:00 → 08:10, then says nothing until 10:00.
- The ingest was receiving 07:00 → 10:05 (declared as an import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from ..conftest import observed

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 20, 8, 0, tzinfo=TZ).timestamp()
M = 60.0


def coverage(db_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    return subprocess.run([sys.executable, "-m", "pingan.cli", "coverage", *args],
                          env={**clean, "PINGAN_DATABASE_URL": db_url, **(env or {})},
                          capture_output=True, text=True, timeout=180)


def hour_json(db_url: str, *extra: str, env: dict[str, str] | None = None) -> dict:
    r = coverage(db_url, "--from", "2026-11-20T08:00", "--to", "2026-11-20T09:00", "--json", *extra, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _fixes(cur, unit: str, times: list[float], lon, lat) -> None:
    lons = lon if isinstance(lon, list) else [lon] * len(times)
    cur.execute("INSERT INTO pingan.patrol_ping (ts, unit_id, lat, lon, officers) SELECT to_timestamp(t), %s, %s, x, "
                "ARRAY['a', 'b'] FROM unnest(%s::float8[], %s::float8[]) AS f(t, x)", (unit, lat, times, lons))


def _heartbeats(cur, camera: str, times: list[float]) -> None:
    cur.execute("INSERT INTO pingan.camera_health (ts, camera_id, online, fps) "
                "SELECT to_timestamp(t), %s, true, 25 FROM unnest(%s::float8[]) t", (camera, times))


def every(first_min: float, last_min: float, step_s: float = 60.0) -> list[float]:
    n = int(round((last_min - first_min) * 60 / step_s))
    return [START + first_min * M + k * step_s for k in range(n + 1)]


@pytest.fixture
def hour(store_url):
    n = 361
    with psycopg.connect(store_url) as conn, conn.cursor() as cur:
        _fixes(cur, "u01", [START + 10 * i for i in range(n)],
               [118.741 + (118.775 - 118.741) * i / (n - 1) for i in range(n)], 32.0275)
        _heartbeats(cur, "cam01", every(-60, 70))
        _heartbeats(cur, "cam02", every(-60, 20) + every(35, 70))
        _heartbeats(cur, "cam04", every(-60, 10) + every(25.5, 70.5))
        cur.execute("INSERT INTO pingan.device_status (ts, kind, device_id, online) "
                    "VALUES (to_timestamp(%s), 'camera', 'cam04', false)", (START + 10.5 * M,))
        _fixes(cur, "u02", every(-60, -30, 10) + every(90, 120, 10), 118.75, 32.057)
        _fixes(cur, "u03", every(0, 10, 10) + every(120, 125, 10), 118.77, 32.057)
    observed(store_url, START - 60 * M, START + 125 * M)
    return store_url


def test_every_cell_says_why(hour):
    doc = hour_json(hour, "--level", "street")
    assert doc["from"] == "2026-11-20T08:00:00+08:00" and doc["to"] == "2026-11-20T09:00:00+08:00"
    assert doc["data"]["ingest_receiving"] == 1.0 and doc["data"]["registry_versions"] == [1]
    cells = doc["cells"]
    assert len(cells) == 16
    g1, g2 = cells["D1S1G1"], cells["D1S1G2"]
    # D1S1G1: visited 08:00 → 08:33:31; its longest gap is the rest of the hour (1589 s), well
    # within its 120-minute revisit; cam01 up all hour
    assert g1["patrol"]["status"] == "covered" and g1["patrol"]["visits"] == 1
    assert g1["patrol"]["longest_gap_s"] == pytest.approx(1589, abs=10)
    assert g1["patrol"]["longest_gap"]["from"].startswith("2026-11-20T08:33:")
    assert g1["patrol"]["longest_gap"]["to"] == "2026-11-20T09:00:00+08:00"
    assert g1["cameras"] == [{"id": "cam01", "category": "main_street", "status": "covered", "uptime": 1.0,
                              "up_s": 3600.0, "down_s": 0.0, "unknown_s": 0.0, "outages": 0}]
    assert g1["status"] == "covered"
    # D1S1G2: its gap is 08:00 → 08:33:31 = 2011 s, within 120 minutes; but its key camera
    # (cam03) was never heard from: unknown, not covered
    assert g2["patrol"]["status"] == "covered" and g2["patrol"]["longest_gap_s"] == pytest.approx(2011, abs=10)
    assert g2["cameras"][0]["id"] == "cam03" and g2["cameras"][0]["status"] == "unknown"
    assert g2["cameras"][0]["unknown_s"] == 3600.0 and g2["cameras"][0]["uptime"] is None
    assert g2["status"] == "unknown"
    # cam02 silent 08:20 → 08:35: 14 minutes down by time, though every heartbeat said online
    cam02 = cells["D1S1G3"]["cameras"][0]
    assert (cam02["id"], cam02["down_s"], cam02["outages"], cam02["status"]) == ("cam02", 840.0, 1, "not_covered")
    assert cam02["uptime"] == pytest.approx(46 / 60)
    # cam04 offline from its status at 08:10:30 to its heartbeat at 08:25:30
    cam04 = cells["D1S1G4"]["cameras"][0]
    assert (cam04["down_s"], cam04["uptime"], cam04["status"]) == (900.0, 0.75, "not_covered")
    # the checkpoint at the west gate (D1S1G3), 2 officers around the clock: nobody came
    (cp,) = cells["D1S1G3"]["checkpoints"]
    assert (cp["id"], cp["required_minutes"], cp["staffed_minutes"], cp["status"]) == ("cp-west", 60, 0, "not_covered")
    # u02 was silent from 07:30 to 09:30, across both edges of the hour: D1S2G1 is unknown
    g = cells["D1S2G1"]["patrol"]
    assert (g["status"], g["visits"], g["unknown_because"]) == ("unknown", 0, "unit silent")
    # u03 stayed in D1S2G2 08:00 → 08:10, then said nothing until 10:00: the gap 08:10 → 09:00
    # (50 min > 30) is all silence: unknown
    g = cells["D1S2G2"]["patrol"]
    assert (g["status"], g["visits"], g["unknown_because"]) == ("unknown", 1, "unit silent")
    # nobody near the other cells, nothing unknown there: not covered
    assert {c for c, v in cells.items() if v["patrol"]["status"] == "not_covered"} == {
        "D1S1G3", "D1S1G4", "D1S2G3", "D1S2G4", *(f"D2S{s}G{g}" for s in (1, 2) for g in (1, 2, 3, 4))}
    # roll-up by street: D1S1 = G1 covered, G2 unknown, G3 and G4 not covered
    streets = {a["id"]: a for a in doc["areas"]}
    assert (streets["D1S1"]["covered"], streets["D1S1"]["unknown"], streets["D1S1"]["not_covered"]) == (0.25, 0.25, 0.5)
    assert (streets["D1S2"]["covered"], streets["D1S2"]["unknown"]) == (0.0, 0.5)
    assert streets["D2S1"]["not_covered"] == 1.0 and not streets["D1S1"]["meets_target"]


def test_an_ingest_outage_is_unknown_not_a_failure(store_url):
    # the same drive and cam01, but the ingest heard nothing 08:20 → 08:40
    n = 361
    with psycopg.connect(store_url) as conn, conn.cursor() as cur:
        _fixes(cur, "u01", [START + 10 * i for i in range(n)],
               [118.741 + (118.775 - 118.741) * i / (n - 1) for i in range(n)], 32.0275)
        _heartbeats(cur, "cam01", every(-60, 70))
    observed(store_url, START - 60 * M, START + 20 * M)
    observed(store_url, START + 40 * M, START + 70 * M, worker="test-import-2")
    doc = hour_json(store_url)
    assert doc["data"]["ingest_receiving"] == pytest.approx(40 / 60)
    cells = doc["cells"]
    # cam01: 40 minutes up, 20 unknown: 67% for certain, 100% if the unknown was up: unknown
    cam = cells["D1S1G1"]["cameras"][0]
    assert (cam["up_s"], cam["unknown_s"], cam["status"]) == (2400.0, 1200.0, "unknown")
    assert cells["D1S1G1"]["status"] == "unknown"
    # D1S2G3 (120 min, no visit): 20 + 20 known minutes without a visit could have met the
    # standard with a visit while the ingest was away: unknown
    g = cells["D1S2G3"]["patrol"]
    assert (g["status"], g["unknown_because"]) == ("unknown", "ingest not receiving")
    # D1S1G3 (30 min, no visit): known stretches of 20 minutes each: unknown too; but its
    # checkpoint had nobody for 40 known minutes of 60 (at most 33% with the unknown 20): failed
    assert cells["D1S1G3"]["patrol"]["status"] == "unknown"
    cp = cells["D1S1G3"]["checkpoints"][0]
    assert (cp["staffed_minutes"], cp["unknown_minutes"], cp["status"]) == (0, 20, "not_covered")
    assert cells["D1S1G3"]["status"] == "not_covered"


def test_table_explain_and_refusals(hour):
    r = coverage(hour, "--from", "2026-11-20T08:00", "--to", "2026-11-20T09:00", "--level", "district", "--by",
                 "area", "--explain")
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "Coverage 2026-11-20 08:00 → 2026-11-20 09:00 (Asia/Shanghai), district level, weighted by cell area" in out
    assert "target ≥ 90% covered: 0 of 2 met (below: D1, D2)" in out
    assert "ingest receiving 100.0% of the period" in out
    assert "camera cam02 (busy_junction) not_covered: up 76.7% of the known time, down 14 min" in out
    assert "patrol unknown: 0 visit(s), longest gap 1 h 00 min (08:00 → 09:00) against 2 h 00 min; unknown: unit silent" \
        in out
    # a period with nothing stored, one in the future, one backwards, a word that is not a time
    r = coverage(hour, "--from", "2026-11-10", "--to", "2026-11-11")
    assert r.returncode == 2 and "nothing is stored for 2026-11-10T00:00:00+08:00" in r.stderr
    r = coverage(hour, "--from", "2099-01-01", "--to", "2099-01-02")
    assert r.returncode == 2 and "starts in the future" in r.stderr
    r = coverage(hour, "--from", "2026-11-20", "--to", "2026-11-19")
    assert r.returncode == 2 and "must be after --from" in r.stderr
    r = coverage(hour, "--from", "last tuesday")
    assert r.returncode == 2 and "'last tuesday' is not a time: use now, today, yesterday, -24h" in r.stderr
    # relative times are accepted (nothing was stored in the last day: refused for that reason)
    r = coverage(hour, "--from", "-24h")
    assert r.returncode == 2 and "nothing is stored" in r.stderr


def test_standards_come_from_the_configuration(hour):
    # no stay is long enough to be a visit
    doc = hour_json(hour, env={"PINGAN_COVERAGE__MIN_DWELL_CAR_S": "100000"})
    assert doc["cells"]["D1S1G1"]["patrol"]["visits"] == 0
    assert doc["cells"]["D1S1G1"]["patrol"]["status"] == "not_covered"
    # cam02's 14 minutes down are a late heartbeat when 20 missed heartbeats are tolerated
    doc = hour_json(hour, env={"PINGAN_COVERAGE__CAMERA_MISSED_HEARTBEATS": "20"})
    assert doc["cells"]["D1S1G3"]["cameras"][0]["down_s"] == 0.0


def test_a_grid_replaced_after_the_period_does_not_change_it(hour, tmp_path):
    # a different city is loaded today: the hour on 2026-11-20 is still assessed on version 1
    from simulators.city import generate_city

    city = generate_city(50, seed=9)
    config = city.write(tmp_path / "city")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    r = subprocess.run([sys.executable, "-m", "pingan.cli", "migrate"], capture_output=True, text=True, timeout=180,
                       env={**env, "PINGAN_DATABASE_URL": hour, "PINGAN_CONFIG": str(config)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "grid or registry changed: version 2 is in force from 2026-" in r.stdout
    assert "periods before that are still assessed on version 1" in r.stdout
    doc = hour_json(hour)
    assert doc["data"]["registry_versions"] == [1] and len(doc["cells"]) == 16
    assert doc["cells"]["D1S1G1"]["status"] == "covered"
    # loading the same city again is not a new version
    r = subprocess.run([sys.executable, "-m", "pingan.cli", "migrate"], capture_output=True, text=True, timeout=180,
                       env={**env, "PINGAN_DATABASE_URL": hour, "PINGAN_CONFIG": str(config)})
    assert "grid and registry unchanged (version 2)" in r.stdout
    with psycopg.connect(hour) as conn:
        assert conn.execute("SELECT count(*) FROM pingan.registry_version").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM pingan.grid_cell WHERE cell_id = 'D1S1G1'").fetchone()[0] == 0
