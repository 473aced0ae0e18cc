"""The live feed over one WebSocket, ``/api/v1/live``: unit positions, camera status changes and
alerts, from the Redis streams the ingest (``pingan:feed``) and the alert service
(``pingan:alerts``) write.

One reader per API process follows both streams and fans each message out to the clients whose
token may see its district, through a bounded queue per client: a client that falls that far
behind is closed with code 4008 and never holds up the reader or the others. A client resumes
where it left off by reconnecting with ``?feed=<id>&alerts=<id>`` (the ids of the last messages
it got): what it missed is read back from the streams first (as far as their cap keeps them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import msgspec
import redis.asyncio as aioredis
from aiohttp import WSCloseCode, web

from store.records import ALERT_STREAM, FEED_STREAM, FeedBatch

from .tokens import Principal

log = logging.getLogger(__name__)

TOO_SLOW = 4008  # a private close code: the client fell behind and was dropped
STREAMS = {"feed": FEED_STREAM, "alerts": ALERT_STREAM}
_decode = msgspec.msgpack.Decoder(FeedBatch).decode


def _id(x: bytes | str) -> tuple[int, int]:
    s = x.decode() if isinstance(x, bytes) else x
    a, _, b = s.partition("-")
    return int(a), int(b or 0)


def messages(stream: str, entry_id: bytes, fields: dict, district_of: Callable[[str], str | None]) -> list[dict]:
    """The live messages one stream entry makes, each with its district and where it came from."""
    eid = entry_id.decode()
    if stream == "alerts":
        a = json.loads(fields[b"alert"])
        return [{"kind": "alert", "stream": stream, "id": eid, "district": (a.get("scope") or {}).get("district"),
                 "alert": a}]
    batch = _decode(fields[b"b"])
    latest: dict[str, Any] = {}
    for f in batch.fixes:
        if f.unit_id not in latest or f.ts > latest[f.unit_id].ts:
            latest[f.unit_id] = f
    out = [{"kind": "position", "stream": stream, "id": eid, "district": district_of(f.unit_id), "unit_id": f.unit_id,
            "ts": f.ts, "lat": f.lat, "lon": f.lon, "cell_id": f.cell_id} for f in latest.values()]
    out += [{"kind": "camera", "stream": stream, "id": eid, "district": district_of(s.device_id), "camera_id": s.device_id,
             "ts": s.ts, "online": s.online} for s in batch.statuses if s.kind == "camera"]
    return out


@dataclass(eq=False)
class Client:
    principal: Principal
    queue: asyncio.Queue
    after: dict[str, tuple[int, int]] = field(default_factory=dict)  # per stream: deliver only ids after these
    dropped: bool = False

    def offer(self, m: dict) -> None:
        if self.dropped or not self.principal.sees(m["district"]) or _id(m["id"]) <= self.after.get(m["stream"], (0, 0)):
            return
        try:
            self.queue.put_nowait(m)
        except asyncio.QueueFull:
            self.dropped = True
            self.queue = asyncio.Queue(1)  # the backlog is let go; the sender closes the socket
            self.queue.put_nowait(None)


class Hub:
    """Follows the streams once for every client of this process."""

    def __init__(self, client: aioredis.Redis, district_of: Callable[[str], str | None], queue_size: int = 1000,
                 poll: bool = False):
        self.redis = client
        self.poll = poll  # an in-process Redis: ask every 0.1 s rather than block in it
        self.district_of = district_of
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.last = {name: "$" for name in STREAMS}
        self.delivered = 0

    async def run(self) -> None:
        keys = {v: k for k, v in STREAMS.items()}
        if self.poll:  # without blocking, "$" is never passed: start from the newest entries now
            for n in STREAMS:
                newest = await self.redis.xrevrange(STREAMS[n], count=1)
                self.last[n] = newest[0][0].decode() if newest else "0-0"
        while True:
            try:
                got = await self.redis.xread({STREAMS[n]: self.last[n] for n in STREAMS}, count=500,
                                             block=None if self.poll else 1000)
                if self.poll and not got:
                    await asyncio.sleep(0.1)
                    continue
            except aioredis.RedisError as e:
                log.warning("live feed: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(1.0)
                continue
            for stream, entries in got or ():
                name = keys[stream.decode() if isinstance(stream, bytes) else stream]
                for eid, fields in entries:
                    self.last[name] = eid.decode()
                    self.fan_out(messages(name, eid, fields, self.district_of))

    def fan_out(self, ms: Iterable[dict]) -> None:
        for m in ms:
            for c in list(self.clients):
                c.offer(m)
            self.delivered += 1

    async def backlog(self, since: dict[str, str]) -> list[dict]:
        """What was written after the given ids, oldest first (as far as the streams still hold it)."""
        out = []
        for name, start in since.items():
            for eid, fields in await self.redis.xrange(STREAMS[name], min=f"({start}", max="+", count=10_000):
                out += messages(name, eid, fields, self.district_of)
        return out


async def serve(request: web.Request, hub: Hub, principal: Principal) -> web.WebSocketResponse:
    since = {name: request.query[name] for name in STREAMS if request.query.get(name)}
    for name, value in since.items():
        try:
            _id(value)
        except ValueError:
            raise web.HTTPBadRequest(text=f"{name} must be a stream id (like 1796000000000-0)") from None
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    client = Client(principal, asyncio.Queue(hub.queue_size))
    hub.clients.add(client)  # live messages queue up from now on …
    try:
        old = await hub.backlog(since) if since else []  # … while what was missed is read back
        for m in old:
            if principal.sees(m["district"]):
                await ws.send_str(json.dumps(m))
                client.after[m["stream"]] = max(client.after.get(m["stream"], (0, 0)), _id(m["id"]))
        await ws.send_str(json.dumps({"kind": "hello", "owner": principal.owner, "resumed": len(old)}))
        reader = asyncio.ensure_future(ws.receive())  # the client says nothing; this notices it went
        while not ws.closed:
            get = asyncio.ensure_future(client.queue.get())
            done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                get.cancel()
                break
            m = get.result()
            if m is None:
                await ws.close(code=TOO_SLOW, message=b"too slow: reconnect with the ids you have")
                break
            if _id(m["id"]) > client.after.get(m["stream"], (0, 0)):
                await ws.send_str(json.dumps(m))
        reader.cancel()
    finally:
        hub.clients.discard(client)
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws
