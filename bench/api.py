"""API speed: the live-units endpoint under many clients, and the live feed's fan-out.

One run, real parts: PostgreSQL (PINGAN_DATABASE_URL's server, else the embedded one; a scratch
database, migrated, with a generated city of 2,000 cells and 5,000 patrol units), Redis
(PINGAN_REDIS_URL, else redis://127.0.0.1:6379/14, flushed) holding each unit's live state as
the ingest's hot state writes it, and the API served by this process on a thread.

1. **Live units.** 100 concurrent clients in another process ask `GET /api/v1/units` (all 5,000
   units, about 1 MB of JSON) for 20 s; the time each waits, p50 and p99. Baseline, same run,
   same client process and concurrency: the same bytes served from memory by a bare aiohttp
   app — the floor for handing that answer to that many clients on this machine.
2. **Fan-out.** 200 WebSocket clients of /api/v1/live in another process; the live feed gets
   1,000 position updates a second for 20 s (one committed batch of one fix each, stamped with
   the moment it was written); each message's lag is its arrival minus that moment. Per client
   p99, and the slowest client's.

Last line: api_p99_ms=<p99 of the live-units endpoint> (target ≤ 50).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import drop, scratch_database  # noqa: E402

UNITS = 5000
REDIS_URL = os.environ.get("PINGAN_REDIS_URL", "redis://127.0.0.1:6379/14")
DB = "pingan_bench_api"


def setup(db_url: str, token_owner: str = "bench"):
    """Migrate, register the city and its units; an admin token. (token, unit ids, the city)"""
    from api import tokens
    from simulators.city import generate_city
    from store.migrate import migrate
    from store.registry import UnitRow, sync

    city = generate_city(2000, seed=5)
    streets = sorted({c.parent for c in city.grid.leaves})
    kinds = ("car", "bike", "foot")
    units = [UnitRow(f"b{k:05d}", kinds[k % 3], streets[k % len(streets)]) for k in range(UNITS)]
    with psycopg.connect(db_url) as conn:
        migrate(conn)
        conn.autocommit = False
        sync(conn, city.grid, city.cameras, city.checkpoints, units, "bench")
        token = tokens.create(conn, token_owner, "admin", [], "bench")
        conn.commit()
    return token, [u.id for u in units], city


def fill_hot_state(client, ids: list[str], city) -> None:
    """Each unit's latest fix, through the ingest's own hot state."""
    from ingest.hotstate import HotState
    from store.records import FeedBatch, PatrolFix

    rng = np.random.default_rng(1)
    from geofence.grid import Level

    w, s, e, n = city.grid.at_level(Level.CITY)[0].geometry.bounds
    now = time.time()
    fixes = [PatrolFix(u, now - float(rng.uniform(0, 600)), float(rng.uniform(s, n)), float(rng.uniform(w, e)),
                       acc=5.0, spd=3.0, officers=(f"{u}-a", f"{u}-b")) for u in ids]
    hot = HotState(client)
    client.set("pingan:epoch", "bench")
    for k in range(0, len(fixes), 500):
        assert hot.apply(FeedBatch(now, "bench", fixes[k:k + 500]), {})
    client.delete("pingan:feed")


def clients(urls: dict[str, str], token: str, seconds: float, out) -> None:
    """100 concurrent clients asking each url in turn for `seconds`: the time each request took."""
    import aiohttp

    async def load(url: str) -> list[float]:
        lat: list[float] = []
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
            async def one() -> None:
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    async with session.get(url, headers=headers) as r:
                        body = await r.read()
                        assert r.status == 200 and len(body) > 100_000, (r.status, body[:200])
                    lat.append(time.perf_counter() - t)
            await asyncio.gather(*(one() for _ in range(100)))
        return lat

    for name, url in urls.items():
        out.put((name, asyncio.run(load(url))))


class Floor:
    """The baseline: the same bytes served from memory by a bare aiohttp app on a thread."""

    def __init__(self, body: bytes):
        import threading

        from aiohttp import web

        self.body = body
        app = web.Application()
        app.router.add_get("/units", lambda request: web.Response(body=self.body, content_type="application/json"))
        self.runner = web.AppRunner(app, access_log=None)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/units"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def listeners(url: str, token: str, n: int, seconds: float, ready, out) -> None:
    """n WebSocket clients; each message's lag from the moment its fix was written, and which
    clients the server dropped for falling behind."""
    import aiohttp

    async def main():
        lags: list[list[float]] = [[] for _ in range(n)]
        dropped: list[int] = []
        timeout = aiohttp.ClientWSTimeout(ws_close=1.0)
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(f"{url}/api/v1/live?access_token={token}", max_msg_size=0,
                                                timeout=timeout) for _ in range(n)]
            ready.set()
            end = time.time() + seconds + 10

            async def listen(k: int, ws) -> None:
                while time.time() < end:
                    try:
                        msg = await asyncio.wait_for(ws.receive(), max(0.1, end - time.time()))
                    except asyncio.TimeoutError:
                        return
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        if msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4008:
                            dropped.append(k)
                        return
                    m = json.loads(msg.data)
                    if m["kind"] == "position":
                        lags[k].append(time.time() - m["ts"])
            await asyncio.gather(*(listen(k, ws) for k, ws in enumerate(sockets)))
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        return lags, dropped

    out.put(("lags", asyncio.run(main())))


def produce(rate: float, seconds: float, ids: list[str]) -> int:
    """The live feed: `rate` committed batches of one fresh fix a second."""
    import msgspec
    import redis

    from store.records import FEED_STREAM, FeedBatch, PatrolFix

    r = redis.Redis.from_url(REDIS_URL)
    enc = msgspec.msgpack.Encoder()
    t0 = time.time()
    n = 0
    while time.time() - t0 < seconds:
        due = int(rate * (time.time() - t0)) - n
        if due <= 0:
            time.sleep(0.001)
            continue
        pipe = r.pipeline(transaction=False)
        for _ in range(due):
            now = time.time()
            f = PatrolFix(ids[n % len(ids)], now, 32.0, 118.8)
            pipe.xadd(FEED_STREAM, {"b": enc.encode(FeedBatch(now, "bench", [f]))}, maxlen=100_000, approximate=True)
            n += 1
        pipe.execute()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--listeners", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1000.0, help="live-feed updates a second")
    args = ap.parse_args()

    import redis

    from api.app import ApiConfig
    from api.server import ApiServer
    from api.settings import ApiSettings
    from assessment.standards import Standards

    print(f"{os.cpu_count()} cores; {UNITS} units; 100 clients; {args.listeners} WebSocket clients at {args.rate:.0f}/s")
    admin, db_url = scratch_database(DB)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    server = None
    try:
        token, ids, city = setup(db_url)
        fill_hot_state(client, ids, city)
        server = ApiServer(ApiConfig(db_url, REDIS_URL, Standards(), ApiSettings(port=0, rate_per_s=100_000))).start()
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        import urllib.request

        ask = urllib.request.Request(server.url + "/api/v1/units", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(ask, timeout=30) as answer:
            floor = Floor(answer.read())
        p = ctx.Process(target=clients, args=({"endpoint": server.url + "/api/v1/units", "baseline": floor.url},
                                              token, args.seconds, out))
        p.start()
        got = dict(out.get(timeout=10 * args.seconds + 120) for _ in range(2))
        p.join()
        floor.stop()
        ep, base = np.array(got["endpoint"]) * 1000, np.array(got["baseline"]) * 1000
        print(f"GET /api/v1/units ({UNITS} units): {len(ep)} requests, p50 {np.percentile(ep, 50):.1f} ms, "
              f"p99 {np.percentile(ep, 99):.1f} ms")
        print(f"baseline, the same {len(floor.body) / 1e6:.1f} MB from memory by a bare aiohttp app: {len(base)} requests, "
              f"p50 {np.percentile(base, 50):.1f} ms, p99 {np.percentile(base, 99):.1f} ms")
        print(f"endpoint p99 / baseline p99 = {np.percentile(ep, 99) / np.percentile(base, 99):.3f}")

        ready = ctx.Event()
        out = ctx.Queue()
        p = ctx.Process(target=listeners, args=(server.url, token, args.listeners, args.seconds, ready, out))
        p.start()
        assert ready.wait(120), "the WebSocket clients did not connect"
        time.sleep(1.0)
        sent = produce(args.rate, args.seconds, ids)
        try:
            lags, dropped = out.get(timeout=args.seconds + 120)[1]
        except queue.Empty:  # the listening process could not keep up with what it was sent
            p.terminate()
            print(f"live feed: {sent} updates in {args.seconds:.0f} s to {args.listeners} clients: the clients' process "
                  "did not finish within two minutes of the end (it could not read what it was sent): not measured")
            print(f"api_p99_ms={np.percentile(ep, 99):.1f}")
            return
        p.join()
        per = np.array([np.percentile(x, 99) * 1000 if x else np.inf for x in lags])
        counts = [len(x) for x in lags]
        print(f"live feed: {sent} updates in {args.seconds:.0f} s to {args.listeners} clients; each got "
              f"{min(counts)}–{max(counts)}; {len(dropped)} dropped for falling behind (4008); lag p99 per client: "
              f"median {np.median(per):.1f} ms, slowest client {per.max():.1f} ms")
        print(f"api_p99_ms={np.percentile(ep, 99):.1f}")
    finally:
        if server is not None:
            server.stop()
        client.flushdb()
        drop(admin, DB)


if __name__ == "__main__":
    main()
