"""Configuration: strict, typed, every problem reported with its key path at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pingan.config import ConfigError, load_settings


def problems(env: dict[str, str], path: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_settings(env, path)
    return [str(p) for p in e.value.problems]


def test_defaults_are_the_embedded_demo():
    s = load_settings({})
    assert s.mqtt.url is None and s.database.url is None and s.redis.url is None
    # devices are never registered into a city by default, not even the demo's (the live demo
    # turns it on itself, and says so: tests/pingan/test_cli.py)
    assert s.demo and s.ingest.auto_register is False
    assert s.mqtt.protocol == "3.1.1"  # the in-process broker speaks 3.1.1 only


def test_file_and_environment(tmp_path):
    cfg = tmp_path / "pingan.toml"
    cfg.write_text('[ingest]\nmax_speed_mps = 40\n[grid]\npath = "city/grid.geojson"\n[mqtt]\nclient_id = "w7"\n')
    s = load_settings({"PINGAN_CONFIG": str(cfg), "PINGAN_MQTT_URL": "mqtt://u:p%40ss@broker:1884",
                       "PINGAN_INGEST__AUTO_REGISTER": "true", "PINGAN_MQTT__RECEIVE_MAXIMUM": "1000"})
    assert s.ingest.max_speed_mps == 40 and s.ingest.auto_register is True
    assert s.mqtt.url == "mqtt://u:p%40ss@broker:1884" and s.mqtt.protocol == "5" and s.mqtt.receive_maximum == 1000
    assert s.grid.path == tmp_path / "city" / "grid.geojson"  # relative to the file
    assert not s.demo and load_settings({"PINGAN_CONFIG": str(cfg)}).ingest.auto_register is False


def test_every_problem_named_by_key_path(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[ingest]\nmax_speed_mps = -1\nbogus = 1\n[mqtt]\nreceive_maximum = 0\n[nonsense]\nx = 1\n')
    got = problems({"PINGAN_CONFIG": str(cfg), "PINGAN_INGEST__BATCH_MAX_ROWS": "many"}, None)
    assert f"{cfg}: ingest.max_speed_mps: Input should be greater than 0" in got
    assert f"{cfg}: ingest.bogus: unknown key" in got
    assert f"{cfg}: mqtt.receive_maximum: Input should be greater than or equal to 10" in got
    assert f"{cfg}: nonsense: unknown key" in got
    assert any(p.startswith("ingest.batch_max_rows (from PINGAN_INGEST__BATCH_MAX_ROWS): ") for p in got)
    assert len(got) == 5


def test_environment_problems():
    got = problems({"PINGAN_MQTT_URL": "http://broker", "PINGAN_DATABSE_URL": "postgresql://x",
                    "PINGAN_REDIS_URL": "redis://localhost:6379/0"})
    assert got == ["PINGAN_DATABSE_URL: unknown setting (expected PINGAN_<SECTION>__<KEY>, sections: alerts, "
                   "api, coverage, database, grid, ingest, log, metrics, mqtt, redis, registry)"]
    assert problems({"PINGAN_ALERTS__ESCALATE_AFTER_S": "-5"}) == [
        "alerts.escalate_after_s (from PINGAN_ALERTS__ESCALATE_AFTER_S): Input should be greater than 0"]
    assert problems({"PINGAN_COVERAGE__TIMEZONE": "Mars/Olympus"}) == [
        "coverage.timezone (from PINGAN_COVERAGE__TIMEZONE): Value error, unknown time zone 'Mars/Olympus'"]
    got = problems({"PINGAN_MQTT_URL": "http://broker"})
    assert got == ["mqtt.url (from PINGAN_MQTT_URL): Value error, expected mqtt://[user:pass@]host[:port] or mqtts://…"]
    assert problems({"PINGAN_CONFIG": "/nonexistent/pingan.toml"}) == [
        "/nonexistent/pingan.toml: config file not found (PINGAN_CONFIG)"]


def test_cross_field_check():
    got = problems({"PINGAN_MQTT__RECEIVE_MAXIMUM": "5000", "PINGAN_INGEST__MAX_PENDING_MESSAGES": "100"})
    assert got == ["(top level): Value error, ingest.max_pending_messages must be >= mqtt.receive_maximum"]


def _box(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _f(geom, **props):
    return {"type": "Feature", "properties": props, "geometry": geom}


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    return subprocess.run([sys.executable, "-m", "pingan.cli", "check"], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_pingan_check_lists_every_grid_and_registry_problem(tmp_path):
    grid = {"type": "FeatureCollection", "features": [
        _f(_box(0, 0, 4, 4), id="C", level="city", name="City"),
        _f(_box(0, 0, 2, 4), id="D1", level="district", parent="C"),
        _f(_box(0, 0, 2, 2), id="S1", level="street", parent="D1"),
        _f(_box(0, 0, 1, 1), id="G1", level="grid", parent="S1"),
        _f(_box(1, 0, 2, 1), id="G1", level="grid", parent="S1"),                     # duplicate id
        _f(_box(0, 1, 1, 2), id="G3", level="grid", parent="S9"),                     # missing parent
        _f(_box(1, 1, 2, 2), id="G4", level="grid", parent="D1"),                     # skips a level
        _f(_box(2, 0, 3, 1), id="G5", level="ward", parent="S1"),                     # unknown level
        _f({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
           id="G6", level="grid", parent="S1"),                                        # self-intersecting
        _f(_box(0, 0, 1, 1), level="grid", parent="S1"),                               # no id
    ]}
    cams = {"type": "FeatureCollection", "features": [
        _f({"type": "Point", "coordinates": [0.5, 0.5]}, id="cam1", category="main_street"),
        _f({"type": "Point", "coordinates": [0.5, 0.5]}, id="cam2", category="lobby"),
        _f({"type": "Point", "coordinates": [200, 0.5]}, id="cam3")]}
    (tmp_path / "grid.geojson").write_text(json.dumps(grid))
    (tmp_path / "cameras.geojson").write_text(json.dumps(cams))
    (tmp_path / "pingan.toml").write_text('[grid]\npath = "grid.geojson"\n[registry]\ncameras = "cameras.geojson"\n'
                                          'checkpoints = "missing.geojson"\n')
    r = run_check({"PINGAN_CONFIG": str(tmp_path / "pingan.toml")})
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    g = str(tmp_path / "grid.geojson")
    c = str(tmp_path / "cameras.geojson")
    expected = [
        f"{g}: features[4] (id=G1): duplicate id",
        f"{g}: features[7] (id=G5): level 'ward' is not one of city, district, street, grid",
        f"{g}: features[8] (id=G6): invalid geometry: Self-intersection[0.5 0.5]",
        f"{g}: features[9]: missing string property 'id'",
        f"{g}: grid G3: parent 'S9' does not exist",
        f"{g}: grid G4: parent 'D1' is a district, expected a street",
        f"{c}: features[1] (id=cam2): category 'lobby' is not one of main_street, busy_junction, key_department, "
        "key_site, perimeter_junction, other",
        f"{c}: features[2] (id=cam3): coordinates out of range: 200.0, 0.5",
        f"registry.checkpoints: file not found: {tmp_path / 'missing.geojson'}",
    ]
    assert sorted(lines) == sorted(expected)
    assert "9 problem(s)" in r.stderr


def test_pingan_check_accepts_the_demo_and_names_bad_settings():
    r = run_check({})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok: 23 grid features (16 cells), 12 cameras, 2 checkpoints, 8 units")
    r = run_check({"PINGAN_INGEST__MAX_ACCURACY_M": "-5"})
    assert r.returncode == 1
    assert "ingest.max_accuracy_m (from PINGAN_INGEST__MAX_ACCURACY_M): Input should be greater than 0" in r.stdout


def test_pingan_check_names_nesting_and_tiling_violations(tmp_path):
    grid = {"type": "FeatureCollection", "features": [
        _f(_box(0, 0, 0.02, 0.01), id="C", level="city"),
        _f(_box(0, 0, 0.02, 0.01), id="D", level="district", parent="C"),
        _f(_box(0, 0, 0.02, 0.01), id="S", level="street", parent="D"),
        _f(_box(0, 0, 0.01, 0.01), id="G1", level="grid", parent="S"),
        _f(_box(0.009, 0, 0.021, 0.005), id="G2", level="grid", parent="S"),  # overlaps G1, pokes out east
    ]}
    (tmp_path / "grid.geojson").write_text(json.dumps(grid))
    (tmp_path / "pingan.toml").write_text('[grid]\npath = "grid.geojson"\n')
    r = run_check({"PINGAN_CONFIG": str(tmp_path / "pingan.toml")})
    assert r.returncode == 1
    g = str(tmp_path / "grid.geojson")
    lines = r.stdout.splitlines()
    assert any(x.startswith(f"{g}: grid G1: overlaps G2 by ") for x in lines), lines
    assert any(x.startswith(f"{g}: grid G2: lies outside its parent S: ") for x in lines), lines
    assert any(x.startswith(f"{g}: street S: 1 gap(s) no grid covers") for x in lines), lines
    assert len(lines) == 3


def test_environment_values_are_read_by_the_fields_type():
    # a client id that looks like a number is still text; a number and a flag are still typed
    s = load_settings({"PINGAN_MQTT__CLIENT_ID": "1234", "PINGAN_MQTT__SHARE_GROUP": "007",
                       "PINGAN_INGEST__MAX_SPEED_MPS": "40", "PINGAN_INGEST__AUTO_REGISTER": "true",
                       "PINGAN_COVERAGE__CAMERA_HEARTBEAT_S": "{ other = 600 }"})
    assert (s.mqtt.client_id, s.mqtt.share_group) == ("1234", "007")
    assert s.ingest.max_speed_mps == 40 and s.ingest.auto_register is True
    assert s.coverage.camera_heartbeat_s["other"] == 600 and s.coverage.camera_heartbeat_s["key_site"] == 60


def test_pingan_check_reports_everything_at_once(tmp_path):
    """A bad setting does not hide the files' problems: all of them, one line each; a site outside
    the grid is a warning, not an error."""
    grid = {"type": "FeatureCollection", "features": [
        _f(_box(0, 0, 0.02, 0.01), id="C", level="city"),
        _f(_box(0, 0, 0.02, 0.01), id="D1", level="district", parent="C"),
        _f(_box(0, 0, 0.02, 0.01), id="S1", level="street", parent="D1"),
        _f(_box(0, 0, 0.01, 0.01), id="G1", level="grid", parent="S1"),
        _f(_box(0.01, 0, 0.02, 0.01), id="G2", level="grid", parent="S1")]}
    cams = {"type": "FeatureCollection", "features": [
        _f({"type": "Point", "coordinates": [0.005, 0.005]}, id="cam1", frigate_name="door"),
        _f({"type": "Point", "coordinates": [0.015, 0.005]}, id="cam2", frigate_name="door"),
        _f({"type": "Point", "coordinates": [0.016, 0.005]}, id="cam3", frigate_name="cam1"),
        _f({"type": "Point", "coordinates": [0.5, 0.5]}, id="cam4")]}
    cps = {"type": "FeatureCollection", "features": [
        _f({"type": "Point", "coordinates": [0.005, 0.005]}, id="cp1", radius_m=50, min_staff=2,
           schedule=[{"from": "07:00", "to": "22:00"}]),
        _f({"type": "Point", "coordinates": [0.015, 0.005]}, id="cp2", radius_m=50, min_staff=2,
           schedule=[{"days": "funday", "start": "25:99"}]),
        _f({"type": "Point", "coordinates": [0.012, 0.005]}, id="cp3", radius_m=50, min_staff=2,
           schedule=[{"days": "mon-fri", "start": "07:00", "end": "24:00"}])]}
    for name, doc in (("grid", grid), ("cameras", cams), ("checkpoints", cps)):
        (tmp_path / f"{name}.geojson").write_text(json.dumps(doc))
    (tmp_path / "pingan.toml").write_text(
        '[grid]\npath = "grid.geojson"\n[registry]\ncameras = "cameras.geojson"\ncheckpoints = "checkpoints.geojson"\n'
        '[[registry.units]]\nid = "u1"\nowntracks = "alice/phone"\n[[registry.units]]\nid = "u2"\n'
        'owntracks = "alice/phone"\n[ingest]\nmax_speed_mps = -1\n')
    r = run_check({"PINGAN_CONFIG": str(tmp_path / "pingan.toml")})
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    cfg, c, k = str(tmp_path / "pingan.toml"), str(tmp_path / "cameras.geojson"), str(tmp_path / "checkpoints.geojson")
    problems = [line for line in lines if not line.startswith("warning:")]
    assert sorted(problems) == sorted([
        f"{cfg}: ingest.max_speed_mps: Input should be greater than 0",
        f"{cfg}: registry.units: Value error, units 'u1' and 'u2' both have owntracks 'alice/phone'",
        f"{c}: camera cam2: frigate_name 'door' is also camera cam1's",
        f"{c}: camera cam3: frigate_name 'cam1' is another camera's id",
        f"{k}: features[0] (id=cp1): schedule[0]: unknown key(s) 'from', 'to' (keys: days, start, end)",
        f"{k}: features[1] (id=cp2): schedule[0]: unknown day 'funday' in 'funday'",
        f"{k}: features[1] (id=cp2): schedule[0]: time '25:99' is not HH:MM",
    ]), problems
    assert [line for line in lines if line.startswith("warning:")] == [
        "warning: camera cam4: at 0.500000, 0.500000 lies outside every grid cell: it counts towards no cell's "
        "coverage"]
