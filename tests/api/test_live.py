"""The live feed (WebSocket /api/v1/live) against the real ingest, Redis and PostgreSQL: each
client gets the positions, camera status changes and alerts of the districts its token may
see; a client that stops reading is dropped with close code 4008 while the others carry on; a
client that reconnects with the ids it had gets what it missed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
import weakref

import aiohttp
import psycopg
import pytest

from api import tokens
from api.app import HUB, ApiConfig
from api.live import TOO_SLOW
from api.server import ApiServer
from api.settings import ApiSettings
from assessment.standards import Standards
from store.records import ALERT_STREAM

from ..conftest import REDIS_URL, wait_for


@pytest.fixture
def live_api(db_url, redis_client, start_worker):
    start_worker()
    with psycopg.connect(db_url) as conn:
        who = {name: tokens.create(conn, name, "command", districts, "test")
               for name, districts in (("city", []), ("d1", ["D1"]))}
    server = ApiServer(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(port=0, live_queue=500))).start()
    yield server, who
    server.stop()


_unread: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per socket: messages received, not looked at


async def next_kind(ws, kinds: set[str], timeout: float = 20) -> dict:
    """The next message of these kinds (each frame is a JSON array of messages)."""
    unread = _unread.setdefault(ws, [])
    while True:
        while unread:
            m = unread.pop(0)
            if m["kind"] in kinds:
                return m
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        assert isinstance(frame, list) and frame, frame
        unread += frame


async def test_each_client_sees_its_districts_and_resumes_where_it_left_off(live_api, publisher, redis_client):
    server, who = live_api
    url = server.url.replace("http", "ws") + "/api/v1/live"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}?access_token={who['city']}") as city, \
                session.ws_connect(f"{url}?access_token={who['d1']}") as d1:
            assert (await next_kind(city, {"hello"}))["owner"] == "city"
            assert (await next_kind(d1, {"hello"}))["resumed"] == 0
            now = time.time()
            publisher.publish("pingan/v1/patrol/u02/gps", {"ts": now - 2, "lat": 32.05, "lon": 118.78})  # D2
            publisher.flush()
            m = await next_kind(city, {"position"})
            assert (m["unit_id"], m["district"], m["lon"]) == ("u02", "D2", 118.78)
            publisher.publish("pingan/v1/patrol/u01/gps", {"ts": now - 1, "lat": 32.03, "lon": 118.75})  # D1
            publisher.publish("pingan/v1/camera/cam01/status", {"status": "offline", "ts": now - 1})
            publisher.flush()
            m = await next_kind(d1, {"position", "camera"})
            assert m["kind"] == "position" and m["unit_id"] == "u01"  # never u02: D2 is not its district
            m = await next_kind(d1, {"position", "camera"})
            assert (m["kind"], m["camera_id"], m["online"]) == ("camera", "cam01", False)
            # alerts, as the alert service writes them to pingan:alerts
            for subject, district in (("cam09", "D2"), ("cam02", "D1")):
                redis_client.xadd(ALERT_STREAM, {"alert": json.dumps({"type": "camera_offline", "subject": subject,
                                                                      "scope": {"district": district}})})
            m = await next_kind(d1, {"alert"})
            assert m["alert"]["subject"] == "cam02"
            seen = {"alerts": m["id"]}
            feed_id = (await next_kind(city, {"camera"}))["id"]
            entries = redis_client.xlen("pingan:feed")
        # d1 is away while more happens; back with the ids it had, it gets what it missed, then live
        publisher.publish("pingan/v1/patrol/u03/gps", {"ts": time.time() - 1, "lat": 32.04, "lon": 118.76})  # D1
        publisher.flush()
        redis_client.xadd(ALERT_STREAM, {"alert": json.dumps({"type": "unit_silent", "subject": "u03",
                                                              "scope": {"district": "D1"}})})
        wait_for(lambda: redis_client.xlen("pingan:feed") > entries, 20, what="the feed")
        async with session.ws_connect(f"{url}?access_token={who['d1']}&feed={feed_id}&alerts={seen['alerts']}") as d1:
            got = []
            while True:
                m = await next_kind(d1, {"position", "alert", "hello"})
                if m["kind"] == "hello":
                    break
                got.append(m)
            assert [(m["kind"], m.get("unit_id") or m["alert"]["subject"]) for m in got] == [
                ("position", "u03"), ("alert", "u03")]
            assert m["resumed"] == 2


def raw_websocket(host: str, port: int, path: str) -> socket.socket:
    """A client that completes the handshake and then reads nothing, on a small receive buffer."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def close_code(s: socket.socket) -> int | None:
    """Read the frames the server sent until it closed: the close frame's code."""
    s.settimeout(15)
    data = b""
    try:
        while chunk := s.recv(1 << 16):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    k = 0
    while k + 2 <= len(data):
        opcode, n = data[k] & 0x0F, data[k + 1] & 0x7F
        k += 2
        if n == 126:
            n, k = struct.unpack(">H", data[k:k + 2])[0], k + 2
        elif n == 127:
            n, k = struct.unpack(">Q", data[k:k + 8])[0], k + 8
        if opcode == 0x8:
            return struct.unpack(">H", data[k:k + 2])[0]
        k += n
    return None


async def test_a_client_that_stops_reading_is_dropped_and_the_others_carry_on(live_api):
    server, who = live_api
    host, port = server.config.settings.host, server.port
    slow = raw_websocket(host, port, f"/api/v1/live?access_token={who['city']}")
    hub = server.app[HUB]
    url = server.url.replace("http", "ws") + "/api/v1/live"
    sent = 4000
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}?access_token={who['city']}") as fast:
            await next_kind(fast, {"hello"})
            wait_for(lambda: len(hub.clients) == 2, 10, what="both clients")
            loop = server.loop

            def burst(k0: int) -> None:
                hub.fan_out({"kind": "position", "stream": "feed", "id": f"{k0 + j + 1}-0", "district": "D1",
                             "unit_id": "u01", "ts": 0.0, "lat": 32.0, "lon": 118.7, "pad": "x" * 2000} for j in range(10))

            async def read_all() -> dict:
                for _ in range(sent):
                    m = await next_kind(fast, {"position"}, timeout=20)
                return m

            reading = asyncio.ensure_future(read_all())  # the fast client reads as the messages come
            for k in range(0, sent, 10):
                loop.call_soon_threadsafe(burst, k)
                await asyncio.sleep(0.01)  # about 1,000 messages a second
            last = await reading
            assert last["id"] == f"{sent}-0"  # the reading client got every one, in order
    assert await asyncio.to_thread(close_code, slow) == TOO_SLOW
    slow.close()
