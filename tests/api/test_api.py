"""The HTTP API against the real PostgreSQL, Redis and Mosquitto: each endpoint's contract (every
response validated against the served OpenAPI document), who may see and do what (401, 403 per
role and district), 413, 429, and what an operator sees after devices published."""

from __future__ import annotations

import socket
import time
from urllib.parse import quote

import jsonschema
import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api import tokens
from api.app import ApiConfig, make_app
from api.openapi import DOCUMENT
from api.settings import ApiSettings
from assessment.defence import Assessor
from assessment.standards import Standards
from geofence.grid import Level
from ingest.mqtt import BrokerAddress
from store import alerts as alert_store
from store.records import CELL_VISITS

from ..conftest import REDIS_URL, query, wait_for


def check(resp_json, status: int, path: str, method: str = "get") -> None:
    """The body against the document's schema for this path, method and status."""
    op = DOCUMENT["paths"][path][method]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(resp_json, {**schema, "components": DOCUMENT["components"]},
                        cls=jsonschema.Draft202012Validator)


@pytest.fixture
def people(db_url):
    with psycopg.connect(db_url) as conn:
        return {name: tokens.create(conn, name, role, districts, "test") for name, role, districts in (
            ("chief", "admin", []), ("officer-d1", "command", ["D1"]), ("fixer-d1", "maintenance", ["D1"]),
            ("auditor-d2", "auditor", ["D2"]), ("gone", "command", []))}


async def client_for(db_url, **settings) -> TestClient:
    app = make_app(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(**settings)))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_who_may_see_and_do_what(db_url, redis_client, people, start_worker, publisher):
    NOW = time.time()  # noqa: N806 (the test's moment, as the devices see it)
    start_worker()
    # devices talk: u01 (a car of D1S1) drives east for 5 minutes, u02 (D2S1) reports once; cam03 goes offline
    for k in range(31):
        publisher.publish("pingan/v1/patrol/u01/gps", {"ts": NOW - 300 + 10 * k, "lat": 32.03, "lon": 118.75 + 0.0002 * k,
                                                      "officers": ["a", "b"]})
    publisher.publish("pingan/v1/patrol/u02/gps", {"ts": NOW - 30, "lat": 32.05, "lon": 118.78})
    for officer, action in (("li", "on"), ("wang", "on"), ("wang", "off")):  # at the west gate: one officer left on
        publisher.publish("pingan/v1/checkpoint/cp-west/checkin", {"ts": NOW - 200 + len(officer) + (action == "off"),
                                                                  "officer": officer, "action": action, "method": "nfc"})
    publisher.flush()
    wait_for(lambda: redis_client.hget("pingan:unit:u01", "ts") == str(NOW).encode() or
             query(db_url, "SELECT count(*) FROM pingan.patrol_ping")[0][0] >= 32, 30, what="the fixes stored")
    wait_for(lambda: redis_client.exists("pingan:unit:u02"), 30, what="the live state")
    with psycopg.connect(db_url) as conn:
        tokens.revoke(conn, tokens.parse(people["gone"])[0])
        for k, (kind, subject, district) in enumerate((("camera_offline", "cam01", "D1"), ("coverage_gap", "D1S1G2", "D1"),
                                                      ("camera_offline", "cam09", "D2"))):
            alert_store.open_alert(conn, {"alert_id": f"00000000-0000-4000-8000-00000000000{k + 1}", "type": kind,
                                          "subject": subject, "severity": "major", "since": NOW - 600,
                                          "opened_at": NOW - 500 + k, "scope": {"district": district}}, NOW - 500 + k)
    client = await client_for(db_url)
    try:
        # open: health and the document; everything else needs a valid, unrevoked token
        r = await client.get("/healthz")
        assert r.status == 200 and await r.json() == {"status": "ok"}
        r = await client.get("/readyz")
        check(await r.json(), r.status, "/readyz")
        assert r.status == 200 and (await r.json())["parts"] == {"database": "ok", "redis": "ok"}
        r = await client.get("/api/v1/openapi.json")
        assert r.status == 200 and (await r.json())["openapi"] == "3.1.0"
        for headers in ({}, auth("pa_nope_nope"), auth("garbage"), auth(people["gone"])):
            r = await client.get("/api/v1/units", headers=headers)
            body = await r.json()
            check(body, 401, "/api/v1/units")
            assert r.status == 401 and body["reason"] and r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await (await client.get("/api/v1/units", headers=auth(people["gone"]))).json())["reason"] == "revoked token"

        # live units: all for the city's token, only its districts' for the others
        r = await client.get("/api/v1/units", headers=auth(people["chief"]))
        body = await r.json()
        check(body, 200, "/api/v1/units")
        units = {u["unit_id"]: u for u in body["units"]}
        assert {"u01", "u02", "u03", "u04", "ot-alice"} <= set(units)
        u01 = units["u01"]
        assert u01["district"] == "D1" and u01["ts"] == pytest.approx(NOW) and u01["lon"] == pytest.approx(118.756)
        assert u01["officers"] == ["a", "b"] and u01["stale"] is False and 0 <= u01["age_s"] < 60
        assert units["u03"]["ts"] is None and units["u03"]["stale"] is True  # never heard
        r = await client.get("/api/v1/units", headers=auth(people["officer-d1"]))
        assert {u["district"] for u in (await r.json())["units"]} == {"D1"}

        # a track: the 31 fixes, in order; simplified to at most 4 vertices on a long range
        path = "/api/v1/units/{unit_id}/track"
        r = await client.get(f"/api/v1/units/u01/track?from={NOW - 3600}&to={NOW + 1}", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, path)
        assert body["geometry"]["type"] == "LineString" and len(body["geometry"]["coordinates"]) == 31
        assert body["properties"]["times"] == sorted(body["properties"]["times"]) and not body["properties"]["simplified"]
        r = await client.get(f"/api/v1/units/u01/track?from={NOW - 3600}&to={NOW + 1}&max_points=4",
                             headers=auth(people["officer-d1"]))
        body = await r.json()
        assert body["properties"]["simplified"] and 2 <= len(body["geometry"]["coordinates"]) <= 4
        assert body["geometry"]["coordinates"][0] == pytest.approx([118.75, 32.03])  # a straight drive: its ends
        r = await client.get("/api/v1/units/u02/track", headers=auth(people["officer-d1"]))
        check(await r.json(), 403, path)
        assert r.status == 403
        r = await client.get("/api/v1/units/u99/track", headers=auth(people["chief"]))
        assert r.status == 404
        r = await client.get("/api/v1/units/u01/track?from=soon", headers=auth(people["chief"]))
        assert r.status == 400 and "'from' must be a number" in (await r.json())["reason"]

        # the grid: each cell's live state; the checkpoints' staffing now
        r = await client.get("/api/v1/cells", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, "/api/v1/cells")
        cells = {f["properties"]["cell_id"]: f["properties"] for f in body["features"]}
        assert cells and {p["district"] for p in cells.values()} == {"D1"}
        (here,), = query(db_url, "SELECT cell_id FROM pingan.patrol_ping WHERE unit_id = 'u01' ORDER BY ts DESC LIMIT 1")
        assert here != "D1S1G2", "the test's gap alert must be on another cell than u01's"
        assert cells[here]["state"] == "ok" and cells[here]["since_s"] < 60
        assert cells["D1S1G2"]["state"] == "gap" and cells["D1S1G2"]["gap_since"] == pytest.approx(NOW - 600)
        visited = {c for (c,) in query(db_url, "SELECT DISTINCT cell_id FROM pingan.patrol_ping WHERE cell_id IS NOT NULL")}
        assert all(p["state"] == "unknown" for c, p in cells.items() if c not in visited and c != "D1S1G2")
        assert {p["basis"] for p in cells.values()} == {"fix"}  # no alert service here: the latest fixes
        # where the alert service publishes its qualifying visits, those decide: u01's cell visited
        # 0.8 of its interval ago is due; a cell with fixes but no visit is unknown; one left 2 min ago, ok
        other = next(c for c in sorted(cells) if c not in visited and c != "D1S1G2")
        revisit = cells[here]["revisit_s"]
        redis_client.hset(CELL_VISITS, mapping={here: NOW - 0.8 * revisit, other: NOW - 120})
        r = await client.get("/api/v1/cells", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, "/api/v1/cells")
        cells = {f["properties"]["cell_id"]: f["properties"] for f in body["features"]}
        assert {p["basis"] for p in cells.values()} == {"visit"}
        assert cells[here]["state"] == "due" and cells[here]["since_s"] == pytest.approx(0.8 * revisit, abs=60)
        assert cells[other]["state"] == "ok" and cells[other]["last_visit_at"] == pytest.approx(NOW - 120)
        assert all(p["state"] == "unknown" for c, p in cells.items() if c not in (here, other, "D1S1G2"))
        redis_client.delete(CELL_VISITS)
        wait_for(lambda: query(db_url, "SELECT count(*) FROM pingan.checkin")[0][0] == 3, 30, what="the check-ins")
        r = await client.get("/api/v1/checkpoints", headers=auth(people["chief"]))
        body = await r.json()
        check(body, 200, "/api/v1/checkpoints")
        west = next(c for c in body["checkpoints"] if c["checkpoint_id"] == "cp-west")
        assert west["officers"] == ["li"] and west["min_staff"] == 2 and west["scheduled_now"] and not west["staffed"]

        # cameras: the maintenance desk sees its districts' cameras, with uptime
        r = await client.get("/api/v1/cameras", headers=auth(people["fixer-d1"]))
        body = await r.json()
        check(body, 200, "/api/v1/cameras")
        assert body["cameras"] and {c["district"] for c in body["cameras"]} == {"D1"}
        r = await client.get("/api/v1/cameras?uptime=false", headers=auth(people["auditor-d2"]))
        assert {c["district"] for c in (await r.json())["cameras"]} == {"D2"}

        # alerts: scoped; acknowledge and resolve recorded with the token's owner; roles
        r = await client.get("/api/v1/alerts", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, "/api/v1/alerts")
        assert [a["subject"] for a in body["alerts"]] == ["D1S1G2", "cam01"] and body["total"] == 2
        r = await client.get("/api/v1/alerts?limit=1&offset=1", headers=auth(people["chief"]))
        body = await r.json()
        assert body["total"] == 3 and [a["subject"] for a in body["alerts"]] == ["D1S1G2"]
        r = await client.get("/api/v1/alerts?district=D2", headers=auth(people["officer-d1"]))
        assert r.status == 403
        r = await client.get("/api/v1/alerts/00000000-0000-4000-8000-000000000003", headers=auth(people["officer-d1"]))
        assert r.status == 403
        act = "/api/v1/alerts/{alert_id}/acknowledge"
        r = await client.post("/api/v1/alerts/00000000-0000-4000-8000-000000000001/acknowledge",
                              json={"note": "crew sent"}, headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, act, "post")
        assert body["state"] == "acknowledged" and body["acknowledged_by"] == "officer-d1"
        r = await client.post("/api/v1/alerts/00000000-0000-4000-8000-000000000001/acknowledge",
                              headers=auth(people["officer-d1"]))
        assert r.status == 409
        r = await client.post("/api/v1/alerts/00000000-0000-4000-8000-000000000002/resolve",
                              headers=auth(people["fixer-d1"]))  # maintenance: camera alerts only
        assert r.status == 403 and "maintenance role" in (await r.json())["reason"]
        r = await client.post("/api/v1/alerts/00000000-0000-4000-8000-000000000001/resolve", json={"note": "fixed"},
                              headers=auth(people["fixer-d1"]))
        assert r.status == 200 and (await r.json())["resolved_by"] == "fixer-d1"
        r = await client.post("/api/v1/alerts/00000000-0000-4000-8000-000000000003/acknowledge",
                              headers=auth(people["auditor-d2"]))  # auditors read
        assert r.status == 403
        r = await client.get("/api/v1/alerts/00000000-0000-4000-8000-000000000001", headers=auth(people["chief"]))
        body = await r.json()
        check(body, 200, "/api/v1/alerts/{alert_id}")
        assert [(e["action"], e["actor"]) for e in body["events"]] == [
            ("open", "pingan"), ("acknowledge", "officer-d1"), ("resolve", "fixer-d1")]
        r = await client.post("/api/v1/alerts/00000000-0000-4000-8000-000000000002/acknowledge", data="{not json",
                              headers=auth(people["officer-d1"]))
        assert r.status == 400

        # silences: within the token's districts
        r = await client.post("/api/v1/silences", json={"kind": "area", "target": "D1S1", "why": "street works",
                                                        "duration_s": 7200}, headers=auth(people["fixer-d1"]))
        body = await r.json()
        check(body, 201, "/api/v1/silences", "post")
        assert body["who"] == "fixer-d1" and body["ends"] - body["starts"] == 7200
        assert query(db_url, "SELECT kind, target, who FROM pingan.alert_silence") == [("area", "D1S1", "fixer-d1")]
        for target, kind in (("D2S1", "area"), ("camera_offline", "type")):
            r = await client.post("/api/v1/silences", json={"kind": kind, "target": target, "why": "x",
                                                            "duration_s": 600}, headers=auth(people["officer-d1"]))
            assert r.status == 403, target
        r = await client.post("/api/v1/silences", json={"kind": "area", "target": "D1S1", "why": "x", "duration_s": 5},
                              headers=auth(people["chief"]))
        assert r.status == 400 and "duration_s" in (await r.json())["reason"]
        # a silence names something that exists: else it would silence nothing
        for kind, target, said in (("subject", "cam99", "'cam99' is not a camera"), ("area", "D7", "'D7' is not an area"),
                                   ("type", "camera_offlin", "no alert type 'camera_offlin'")):
            r = await client.post("/api/v1/silences", json={"kind": kind, "target": target, "why": "x",
                                                            "duration_s": 600}, headers=auth(people["chief"]))
            assert r.status == 400 and said in (await r.json())["reason"], target
        # listed to those who see its area, ended early by one who may silence
        r = await client.get("/api/v1/silences", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, "/api/v1/silences")
        assert [(s["target"], s["who"], s["ended_by"]) for s in body["silences"]] == [("D1S1", "fixer-d1", None)]
        r = await client.get("/api/v1/silences", headers=auth(people["auditor-d2"]))
        assert (await r.json())["silences"] == []
        sid = body["silences"][0]["silence_id"]
        r = await client.delete(f"/api/v1/silences/{sid[:8]}", headers=auth(people["auditor-d2"]))
        assert r.status == 404  # not one it may see
        r = await client.delete(f"/api/v1/silences/{sid[:8]}", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 200, "/api/v1/silences/{silence_id}", "delete")
        assert body["ended_by"] == "officer-d1" and body["ends"] <= time.time() + 1
        r = await client.get("/api/v1/silences", headers=auth(people["chief"]))
        assert (await r.json())["silences"] == []
        r = await client.delete(f"/api/v1/silences/{sid[:8]}", headers=auth(people["officer-d1"]))
        assert r.status == 404  # ended already

        # 413: a body over the limit
        r = await client.post("/api/v1/silences", data=b"x" * 100_000, headers={**auth(people["chief"]),
                                                                                "Content-Type": "application/json"})
        body = await r.json()
        check(body, 413, "/api/v1/silences", "post")
        assert r.status == 413 and "65536" in body["reason"]

        # coverage: the figures `pingan coverage` gives for the same period
        r = await client.get(f"/api/v1/coverage?from={NOW - 3600}&to={NOW}&level=street", headers=auth(people["chief"]))
        body = await r.json()
        check(body, 200, "/api/v1/coverage")
        with psycopg.connect(db_url) as conn:
            a = Assessor(conn, Standards(), store=False)
            want = {x.area_id: [round(x.covered, 6), round(x.unknown, 6)]
                    for x in a.areas(a.period(NOW - 3600, NOW), Level.STREET)}
        assert {x["area_id"]: [x["covered"], x["unknown"]] for x in body["areas"]} == want
        r = await client.get(f"/api/v1/coverage?from={NOW - 3600}&to={NOW}&level=street",
                             headers=auth(people["auditor-d2"]))
        assert {x["area_id"] for x in (await r.json())["areas"]} == {"D2S1", "D2S2"}
        r = await client.get("/api/v1/coverage?level=ward", headers=auth(people["chief"]))
        assert r.status == 400
    finally:
        await client.close()


async def test_too_many_requests_with_one_token(db_url, redis_client, people):
    client = await client_for(db_url, rate_per_s=5)
    try:
        statuses = []
        t = time.time()
        for _ in range(12):
            statuses.append((await client.get("/api/v1/alerts", headers=auth(people["chief"]))).status)
        assert time.time() - t < 1.0 or statuses.count(429) >= 1  # (a slow machine may cross a second)
        assert 429 in statuses and statuses[:5] == [200] * 5
        r = await client.get("/api/v1/alerts", headers=auth(people["chief"]))
        if r.status == 429:
            body = await r.json()
            check(body, 429, "/api/v1/alerts")
            assert r.headers["Retry-After"] == "1"
        # another token is not held back by the first one's
        assert (await client.get("/api/v1/alerts", headers=auth(people["officer-d1"]))).status == 200
    finally:
        await client.close()


def test_tokens_from_the_command_line(db_url):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PINGAN_DATABASE_URL": db_url}

    def pingan(*args):
        return subprocess.run([sys.executable, "-m", "pingan.cli", "token", *args], capture_output=True, text=True,
                              env=env, timeout=60)

    r = pingan("create", "--owner", "desk-7", "--role", "maintenance", "--district", "D2")
    assert r.returncode == 0, r.stderr
    text = r.stdout.strip().splitlines()[-1]
    token_id, secret = tokens.parse(text)
    assert "desk-7 (maintenance, D2)" in r.stdout
    stored = query(db_url, "SELECT owner, role, districts, secret_hash FROM pingan.api_token WHERE token_id = %s",
                   (token_id,))
    assert stored[0][:3] == ("desk-7", "maintenance", ["D2"]) and secret.encode() not in bytes(stored[0][3])
    listed = pingan("list")
    assert token_id in listed.stdout and secret not in listed.stdout and "active" in listed.stdout
    assert pingan("revoke", token_id).returncode == 0
    assert "revoked" in pingan("list").stdout
    assert pingan("revoke", token_id).returncode == 2
    bad = pingan("create", "--owner", "x", "--role", "janitor")
    assert bad.returncode == 2 and "janitor" in bad.stderr
    bad = pingan("create", "--owner", "x", "--role", "command", "--district", "D9")  # no such district
    assert bad.returncode == 2 and "no district 'D9'" in bad.stderr and "D1, D2" in bad.stderr


async def test_readiness_asks_the_broker_for_a_connack(db_url, redis_client, broker):
    """/readyz: an MQTT CONNECT the broker answers; a port where nothing listens, or something that
    takes the connection but is no broker (no CONNACK): 503 saying which."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    mute = socket.socket()  # takes connections (the kernel's backlog) and never says a word
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    cases = ((BrokerAddress.parse(broker.url), 200, "ok"),
             (BrokerAddress("127.0.0.1", closed, None, None, False), 503, "ConnectionRefusedError"),
             (BrokerAddress("127.0.0.1", mute.getsockname()[1], None, None, False), 503, "no CONNACK"))
    for address, status, said in cases:
        app = make_app(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(), broker=address))
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            r = await client.get("/readyz")
            body = await r.json()
            check(body, status, "/readyz")
            assert r.status == status and body["parts"]["database"] == body["parts"]["redis"] == "ok"
            assert said in body["parts"]["broker"]
        finally:
            await client.close()
    mute.close()


async def test_reports_as_the_command_line_makes_them(db_url, redis_client, people):
    """/api/v1/reports/{kind}: the figures of `pingan report` (the stored days of the hand-worked
    assessment test), each format with its content type; a district's token reads its own area only."""
    from ..assessment.test_report import two_days

    two_days(db_url)
    client = await client_for(db_url)
    try:
        period = "from=2026-11-20&to=2026-11-22"
        r = await client.get(f"/api/v1/reports/assessment?{period}", headers=auth(people["chief"]))
        assert r.status == 200 and r.content_type == "application/json"
        doc = await r.json()
        d1 = next(x for x in doc["districts"] if x["area_id"] == "D1")
        assert (d1["coverage"], d1["patrol"]) == pytest.approx((13 / 16, 14 / 16))  # as worked by hand there
        r = await client.get(f"/api/v1/reports/assessment?{period}&format=csv&table=streets", headers=auth(people["chief"]))
        assert r.status == 200 and r.content_type == "text/csv" and "attachment" in r.headers["Content-Disposition"]
        assert (await r.text()).splitlines()[1].startswith("D1S1,")
        r = await client.get(f"/api/v1/reports/assessment?{period}&format=pdf", headers=auth(people["chief"]))
        assert r.status == 200 and r.content_type == "application/pdf" and (await r.read()).startswith(b"%PDF")
        # a district's token: its own area, never the city's
        r = await client.get(f"/api/v1/reports/assessment?{period}", headers=auth(people["officer-d1"]))
        body = await r.json()
        check(body, 403, "/api/v1/reports/{kind}")
        assert r.status == 403 and "D1" in body["reason"]
        r = await client.get(f"/api/v1/reports/assessment?{period}&area=D2", headers=auth(people["officer-d1"]))
        assert r.status == 403
        r = await client.get(f"/api/v1/reports/assessment?{period}&area=D1", headers=auth(people["officer-d1"]))
        doc = await r.json()
        assert [x["area_id"] for x in doc["districts"]] == ["D1"] and [x["area_id"] for x in doc["streets"]] == [
            "D1S1", "D1S2"]
        # what cannot be made says why
        for query, why in (("period=2026-Q5", "is not a period"), ("", "say which period"),
                           (f"{period}&format=doc", "format"), ("period=2099", "starts in the future")):
            r = await client.get(f"/api/v1/reports/assessment?{query}", headers=auth(people["chief"]))
            body = await r.json()
            check(body, 400, "/api/v1/reports/{kind}")
            assert r.status == 400 and why in body["reason"], (query, body)
        r = await client.get("/api/v1/reports/gossip?period=2026", headers=auth(people["chief"]))
        assert r.status == 400 and "no report 'gossip'" in (await r.json())["reason"]
    finally:
        await client.close()


async def test_numbers_in_the_query_are_numbers(db_url, redis_client, people):
    """(Schemathesis found `limit=²`: a digit to str.isdigit, no number to int — a 500 then.)"""
    client = await client_for(db_url)
    try:
        for value in ("²", "1_0", " 5", "5.0", "-1", "--5", "abc", "1001"):
            r = await client.get(f"/api/v1/alerts?limit={quote(value)}", headers=auth(people["chief"]))
            body = await r.json()
            check(body, 400, "/api/v1/alerts")
            assert r.status == 400 and "'limit' must be a whole number within [1, 1000]" in body["reason"], value
        r = await client.get("/api/v1/alerts?limit=7", headers=auth(people["chief"]))
        assert r.status == 200 and (await r.json())["limit"] == 7
    finally:
        await client.close()
