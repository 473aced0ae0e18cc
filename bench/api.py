"""API speed: the live-units endpoint under many clients, and the live feed's fan-out.

One run, real parts: PostgreSQL (PINGAN_DATABASE_URL's server, else the embedded one; a scratch
database, migrated, with a generated city of 2,000 cells and 5,000 patrol units), Redis
(PINGAN_REDIS_URL, else redis://127.0.0.1:6379/14, flushed) holding each unit's live state as
the ingest's hot state writes it, and the API served by this process on a thread.

1. **Live units.** `GET /api/v1/units` (all 5,000 units, about 1 MB of JSON, gzip) by 100
   clients for 20 s each way, while the live feed brings 1,000 position updates a second (the
   answer is kept current from it): *paced* — each client asks after random gaps of mean 1 s,
   as independent dashboards polling do (100 requests a second in all) — and *saturated* — each
   asks again as soon as answered (a throughput test: its latency is the queue). Two clients:
   Python (aiohttp in another process, unpacking each answer as a browser does — on this
   2-core machine it competes with the server for the CPU) and, when installed, wrk (C, 100
   connections, gaps drawn by its Lua `delay()`; it costs the machine little, as clients on
   other machines would). Baseline in each, same run and load: the same answer served from
   memory by a bare aiohttp app — the floor for handing those bytes to those clients here.
2. **Fan-out.** 200 WebSocket clients of /api/v1/live spread over two processes; the live feed
   gets 1,000 position updates a second for 20 s (one committed batch of one fix each, stamped
   with the moment it was written); each message's lag is its arrival minus that moment. Per
   client p99, the slowest client's, and how many the server dropped for falling behind.

Last line: api_p99_ms=<p99 of the live-units endpoint, paced, by wrk (by the Python clients
without it)> (target ≤ 50).
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


def clients(urls: dict[str, str], token: str, seconds: float, every_s: float, out) -> None:
    """100 clients asking each url, each after random gaps of mean `every_s` seconds as independent
    dashboards poll (0: back to back), for `seconds`: the time each request waited, from the moment
    it was due (one held up by the one before counts from when it should have gone)."""
    import random

    import aiohttp

    async def load(url: str) -> list[float]:
        lat: list[float] = []
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            async def one() -> None:
                start = time.perf_counter()
                due = start + (random.expovariate(1 / every_s) if every_s else 0.0)
                while due < start + seconds:
                    wait = due - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    async with session.get(url, headers=headers) as r:
                        body = await r.read()
                        assert r.status == 200 and len(body) > 100_000, (r.status, body[:200])
                    done = time.perf_counter()
                    lat.append(done - due)
                    due = due + random.expovariate(1 / every_s) if every_s else done
            await asyncio.gather(*(one() for _ in range(100)))
        return lat

    for name, url in urls.items():
        out.put((name, asyncio.run(load(url))))


WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer %s"
wrk.headers["Accept-Encoding"] = "gzip"
local every = %f
if every > 0 then
  function delay() return -math.log(1 - math.random()) * every end  -- independent clients: random gaps
end
function done(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%f %%f\\n", summary.requests, summary.errors.status, latency:percentile(50),
                         latency:percentile(99)))
end
"""


def row(ep, base, seconds: float) -> None:
    print(f"  endpoint {len(ep)} requests ({len(ep) / seconds:.0f}/s), p50 {np.percentile(ep, 50):.1f} ms, "
          f"p99 {np.percentile(ep, 99):.1f} ms; baseline (the same answer from memory, bare aiohttp) {len(base)} "
          f"requests, p50 {np.percentile(base, 50):.1f} ms, p99 {np.percentile(base, 99):.1f} ms; "
          f"endpoint p99 / baseline p99 = {np.percentile(ep, 99) / np.percentile(base, 99):.2f}")


def wrk(url: str, token: str, seconds: float, every_s: float) -> tuple[int, float, float]:
    """100 connections of wrk (a C load generator: the clients cost the machine little), each
    asking after a random gap of mean `every_s` (0: back to back). (requests, p50 ms, p99 ms)"""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % (token, every_s * 1000))
        script.flush()
        out = subprocess.run(["wrk", "-t1", "-c100", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", script.name, url],
                             capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    n, bad, p50, p99 = line.split()[1:]
    assert int(bad) == 0, out
    return int(n), float(p50) / 1000, float(p99) / 1000


class Floor:
    """The baseline: the same answer served from memory by a bare aiohttp app on a thread (gzip
    compressed once beforehand, as the endpoint keeps it)."""

    def __init__(self, body: bytes):
        import gzip
        import threading

        from aiohttp import web

        self.body = body
        packed = gzip.compress(body, 1)
        app = web.Application()
        app.router.add_get("/units", lambda request: web.Response(body=packed, content_type="application/json",
                                                                   headers={"Content-Encoding": "gzip"}))
        self.runner = web.AppRunner(app, access_log=None)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/units"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
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
                    now = time.time()
                    lags[k] += [now - m["ts"] for m in json.loads(msg.data) if m["kind"] == "position"]
            await asyncio.gather(*(listen(k, ws) for k, ws in enumerate(sockets)))
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        return lags, dropped

    out.put(("lags", asyncio.run(main())))


def produce(rate: float, seconds: float, ids: list[str], out=None) -> int:
    """The live feed: `rate` committed batches of one fresh fix a second (the count, also put on `out`)."""
    import msgspec
    import redis

    from store.records import FEED_STREAM, FeedBatch, PatrolFix

    r = redis.Redis.from_url(REDIS_URL)
    enc = msgspec.msgpack.Encoder()
    rng = np.random.default_rng(2)
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
            u = ids[n % len(ids)]
            f = PatrolFix(u, now, 31.9 + rng.uniform(0, 0.3), 118.6 + rng.uniform(0, 0.4), acc=5.0,
                          spd=float(rng.uniform(0, 12)), officers=(f"{u}-a", f"{u}-b"))
            pipe.xadd(FEED_STREAM, {"b": enc.encode(FeedBatch(now, "bench", [f]))}, maxlen=100_000, approximate=True)
            n += 1
        pipe.execute()
    if out is not None:
        out.put(("sent", n))
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--listeners", type=int, default=200)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between one client's requests (paced regime)")
    ap.add_argument("--listener-processes", type=int, default=2, help="processes the WebSocket clients are spread over")
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
        result = {}
        # the feed runs meanwhile, as it does in the command centre: the answer is rebuilt from it
        fed = ctx.Queue()
        feed = ctx.Process(target=produce, args=(args.rate, 4 * args.seconds + 60, ids, fed))
        feed.start()
        import shutil

        for regime, every in (("paced", args.every), ("saturated", 0.0)):
            what = (f"each asking after a random gap of mean {every:g} s" if every else "each asking again when answered")
            p = ctx.Process(target=clients, args=({"endpoint": server.url + "/api/v1/units", "baseline": floor.url},
                                                  token, args.seconds, every, out))
            p.start()
            got = dict(out.get(timeout=10 * args.seconds + 120) for _ in range(2))
            p.join()
            ep, base = np.array(got["endpoint"]) * 1000, np.array(got["baseline"]) * 1000
            print(f"GET /api/v1/units ({UNITS} units), 100 Python clients (aiohttp, reading and unpacking the answer "
                  f"as a browser would, on this machine), {what}:")
            row(ep, base, args.seconds)
            result[regime, "python"] = float(np.percentile(ep, 99))
            if shutil.which("wrk"):
                ep, base = (wrk(u, token, args.seconds, every) for u in (server.url + "/api/v1/units", floor.url))
                print(f"  the same with wrk (100 connections, {what}):")
                print(f"  endpoint {ep[0]} requests ({ep[0] / args.seconds:.0f}/s), p50 {ep[1]:.1f} ms, p99 {ep[2]:.1f} ms; "
                      f"baseline {base[0]} requests ({base[0] / args.seconds:.0f}/s), p50 {base[1]:.1f} ms, "
                      f"p99 {base[2]:.1f} ms; endpoint p99 / baseline p99 = {ep[2] / base[2]:.2f}")
                result[regime, "wrk"] = ep[2]
        client_kind = "wrk" if ("paced", "wrk") in result else "python"
        print(f"the figure: {client_kind} clients, paced")
        floor.stop()
        feed.terminate()
        feed.join()

        procs = args.listener_processes
        readies = [ctx.Event() for _ in range(procs)]
        out = ctx.Queue()
        share = [args.listeners // procs + (k < args.listeners % procs) for k in range(procs)]
        ps = [ctx.Process(target=listeners, args=(server.url, token, n, args.seconds, ready, out))
              for n, ready in zip(share, readies, strict=True)]
        for p in ps:
            p.start()
        assert all(r.wait(120) for r in readies), "the WebSocket clients did not connect"
        time.sleep(1.0)
        sent = produce(args.rate, args.seconds, ids)
        lags, dropped = [], []
        try:
            for _ in ps:
                got_lags, got_dropped = out.get(timeout=args.seconds + 120)[1]
                dropped += [len(lags) + k for k in got_dropped]
                lags += got_lags
        except queue.Empty:  # a listening process could not keep up with what it was sent
            for p in ps:
                p.terminate()
            print(f"live feed: {sent} updates in {args.seconds:.0f} s to {args.listeners} clients: a clients' process "
                  "did not finish within two minutes of the end (it could not read what it was sent): not measured")
            print(f"api_p99_ms={result['paced', client_kind]:.1f}")
            return
        for p in ps:
            p.join()
        per = np.array([np.percentile(x, 99) * 1000 if x else np.inf for x in lags])
        counts = [len(x) for x in lags]
        print(f"live feed: {sent} updates in {args.seconds:.0f} s to {args.listeners} clients; each got "
              f"{min(counts)}–{max(counts)}; {len(dropped)} dropped for falling behind (4008); lag p99 per client: "
              f"median {np.median(per):.1f} ms, slowest client {per.max():.1f} ms")
        print(f"api_p99_ms={result['paced', client_kind]:.1f}")
    finally:
        if server is not None:
            server.stop()
        client.flushdb()
        drop(admin, DB)


if __name__ == "__main__":
    main()
