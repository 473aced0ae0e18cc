"""The dashboard in a real browser (Debian's headless Chromium through Playwright), against the
real Mosquitto, PostgreSQL and Redis with an ingest worker, the alert service and the API: an
operator signs in, sees units move as they publish, sees a camera fault's alert appear,
acknowledges it, and a screenshot of the wall screen is kept."""

from __future__ import annotations

import json
import time
import urllib.request

import psycopg
import pytest

from api import tokens
from api.app import ApiConfig
from api.server import ApiServer
from api.settings import ApiSettings
from assessment.standards import Standards
from store.records import CELL_VISITS

from ..alerts.test_service import heartbeats, service
from ..conftest import REDIS_URL, SHOTS, query, wait_for


def units(url: str, token: str) -> list[dict]:
    ask = urllib.request.Request(url + "/api/v1/units", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(ask, timeout=10) as r:
        return json.loads(r.read())["units"]


def test_an_operator_watches_units_move_and_acknowledges_a_camera_alert(
        broker, db_url, redis_client, start_worker, publisher, browser, tmp_path):
    start_worker()
    alerts = service(broker.url, db_url, redis_client, for_s={"camera_offline": 0}).start()
    api = ApiServer(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(port=0))).start()
    with psycopg.connect(db_url) as conn:
        token = tokens.create(conn, "duty-officer-zhang", "command", [], "test")
    t0 = time.time()

    def drive(k: int) -> None:  # u01 heads east along a street at about 19 m/s, a fix every 5 s
        publisher.publish("pingan/v1/patrol/u01/gps", {"ts": t0 - 150 + 5 * k, "lat": 32.03, "lon": 118.75 + 0.001 * k})
        publisher.flush()

    try:
        assert alerts.ready.wait(30)
        drive(0)
        wait_for(lambda: any(u["unit_id"] == "u01" and u["lon"] for u in units(api.url, token)), 10,
                 what="u01 in the live units")
        page = browser.new_page()
        page.on("console", lambda m: print("console:", m.type, m.text))  # (shown when the test fails)
        page.on("pageerror", lambda e: print("page error:", e))
        page.on("response", lambda r: r.status >= 400 and print("response:", r.status, r.url))
        page.goto(api.url + "/")
        page.fill("#token", token)
        page.click("#signin button[type=submit]")
        page.wait_for_selector("#app:not([hidden])")
        page.wait_for_function("() => (document.body.dataset.units || '').includes('u01')", timeout=20_000)

        def where() -> list:
            return next(u for u in json.loads(page.evaluate("document.body.dataset.units")) if u[0] == "u01")

        first = where()
        page.wait_for_function("() => document.body.dataset.live === 'live'", timeout=10_000)
        for k in range(1, 31):  # (the page reads the units again only every 30 s: these come by the live feed)
            drive(k)
        page.wait_for_function("() => JSON.parse(document.body.dataset.units || '[]')"
                               ".some(u => u[0] === 'u01' && u[2] > 118.775)", timeout=20_000)
        assert where()[2] == pytest.approx(118.78) and first[2] == pytest.approx(118.75)
        # the alert service publishes the cells u01 visited (long enough to count) for the cell states
        wait_for(lambda: redis_client.hlen(CELL_VISITS) > 0, 30, what="the cells' visits published")
        visited = {k.decode(): float(v) for k, v in redis_client.hgetall(CELL_VISITS).items()}
        assert all(t0 - 150 <= t <= t0 for t in visited.values()), visited
        # a camera fault: cam05 says it is offline, while the others keep sending their heartbeats
        publisher.publish("pingan/v1/camera/cam05/status", {"status": "offline", "ts": time.time() - 5})
        heartbeats(publisher, time.time() - 1, skip=("cam05",))
        publisher.flush()
        wait_for(lambda: query(db_url, "SELECT state FROM pingan.alert WHERE subject = 'cam05'") == [("open",)], 30,
                 what="the camera_offline alert")
        # the map shows it (the live feed says so: the page reads the cameras again only every minute)
        page.wait_for_function("() => JSON.parse(document.body.dataset.cameras || '[]')"
                               ".some(c => c[0] === 'cam05' && c[1] === false)", timeout=20_000)
        item = page.wait_for_selector("#alerts li[data-type=camera_offline][data-subject=cam05]", timeout=30_000)
        item.query_selector("button").click()
        wait_for(lambda: query(db_url, "SELECT state, acknowledged_by FROM pingan.alert WHERE subject = 'cam05'") ==
                 [("acknowledged", "duty-officer-zhang")], 20, what="the acknowledgement stored")
        page.wait_for_function("() => document.querySelector('#alerts li[data-subject=cam05]')"
                               ".textContent.includes('acknowledged by duty-officer-zhang')", timeout=10_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        # the maintenance view: cameras ranked, cam05 offline
        page.click("nav button[data-view=maintenance]")
        page.wait_for_selector("#cameras tbody tr")
        page.screenshot(path=str(SHOTS / "maintenance.png"), full_page=True)
        # signed out when the token is revoked
        with psycopg.connect(db_url) as conn:
            tokens.revoke(conn, tokens.parse(token)[0])
        page.wait_for_selector("#signin:not([hidden])", timeout=20_000)
        assert "refused" in page.text_content("#signin-error")
    finally:
        api.stop()
        alerts.stop()
        alerts.dispatcher.close()
