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
from collections import deque
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
    return batch_messages(eid, _decode(fields[b"b"]), district_of)


def batch_messages(eid: str, batch: FeedBatch, district_of: Callable[[str], str | None],
                   online: dict[str, bool] | None = None) -> list[dict]:
    """The live messages of one committed batch of the feed: each unit's newest position, each
    camera status message, and a heartbeat where it changes what `online` (camera → online, kept
    by the caller) last knew."""
    stream = "feed"
    latest: dict[str, Any] = {}
    for f in batch.fixes:
        if f.unit_id not in latest or f.ts > latest[f.unit_id].ts:
            latest[f.unit_id] = f
    out = [{"kind": "position", "stream": stream, "id": eid, "district": district_of(f.unit_id), "unit_id": f.unit_id,
            "ts": f.ts, "lat": f.lat, "lon": f.lon, "cell_id": f.cell_id} for f in latest.values()]
    said = [(s.device_id, s.ts, s.online) for s in batch.statuses if s.kind == "camera"]
    if online is not None:
        for h in sorted(batch.health, key=lambda h: h.ts):
            if online.get(h.camera_id) != h.online:
                said.append((h.camera_id, h.ts, h.online))
            online[h.camera_id] = h.online
        for s in batch.statuses:
            if s.kind == "camera":
                online[s.device_id] = s.online
    out += [{"kind": "camera", "stream": stream, "id": eid, "district": district_of(cam), "camera_id": cam,
             "ts": ts, "online": on} for cam, ts, on in said]
    return out


@dataclass(eq=False)
class Client:
    """One WebSocket client: the frames waiting to be sent (text, messages in it), at most
    `limit` messages in all. While a resuming client is given what it missed, live messages
    are held aside (`holding`) and sent after it, without what it already got."""

    principal: Principal
    limit: int
    holding: list[dict] | None = None
    frames: deque = field(default_factory=deque)
    pending: int = 0
    dropped: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, ms: list[dict], frames: dict[frozenset[str], tuple[str, int]]) -> None:
        """The messages of one read of the streams; `frames` holds each district set's frame
        once encoded, shared by every client with the same districts."""
        if self.holding is not None:
            self.holding += [m for m in ms if self.principal.sees(m["district"])]
            return
        key = self.principal.districts
        frame = frames.get(key)
        if frame is None:
            seen = [m for m in ms if self.principal.sees(m["district"])]
            frame = frames[key] = (_frame(seen), len(seen))
        self.push(frame)

    def push(self, frame: tuple[str, int]) -> None:
        if self.dropped or frame[1] == 0:
            return
        if self.pending + frame[1] > self.limit:
            self.dropped = True  # the backlog is let go; the sender closes the socket
            self.frames.clear()
        else:
            self.frames.append(frame)
            self.pending += frame[1]
        self.wake.set()

    def release(self, after: dict[str, tuple[int, int]]) -> None:
        """The backlog was sent (up to these ids per stream): what was held goes out, then live."""
        held, self.holding = self.holding or [], None
        rest = [m for m in held if _id(m["id"]) > after.get(m["stream"], (0, 0))]
        if rest:
            self.push((_frame(rest), len(rest)))


def _frame(ms: list[dict]) -> str:
    return _encode(ms).decode()


_encode = msgspec.json.Encoder().encode


class Hub:
    """Follows the streams once for every client of this process. What one read brings (up to
    500 entries of each stream) goes to each client as one frame, encoded once per set of
    districts; reads are at least `batch_s` apart, so a busy feed makes fewer, fuller frames."""

    def __init__(self, client: aioredis.Redis, district_of: Callable[[str], str | None], queue_size: int = 1000,
                 poll: bool = False, batch_s: float = 0.05):
        self.redis = client
        self.poll = poll  # an in-process Redis: ask every 0.1 s rather than block in it
        self.district_of = district_of
        self.queue_size = queue_size
        self.batch_s = batch_s
        self.clients: set[Client] = set()
        self.online: dict[str, bool] = {}  # camera → online, as its last word said (heartbeats: changes only)
        self.watchers: list[Callable[[FeedBatch], None]] = []  # others in this process following the feed
        self.last = {name: "$" for name in STREAMS}
        self.delivered = 0

    async def run(self) -> None:
        keys = {v: k for k, v in STREAMS.items()}
        while "$" in self.last.values():  # start from the newest entries now, by id ("$" would skip
            try:                           # what comes between two reads)
                for n in STREAMS:
                    newest = await self.redis.xrevrange(STREAMS[n], count=1)
                    self.last[n] = newest[0][0].decode() if newest else "0-0"
            except aioredis.RedisError as e:
                log.warning("live feed: Redis unavailable (%s); retrying", e)
                await asyncio.sleep(1.0)
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
            ms: list[dict] = []
            for stream, entries in got or ():
                name = keys[stream.decode() if isinstance(stream, bytes) else stream]
                for eid, fields in entries:
                    self.last[name] = eid.decode()
                    try:
                        if name != "feed":
                            ms += messages(name, eid, fields, self.district_of)
                            continue
                        batch = _decode(fields[b"b"])
                        ms += batch_messages(self.last[name], batch, self.district_of, self.online)
                        for watch in self.watchers:
                            watch(batch)
                    except Exception as e:  # one entry the feed cannot read is skipped, said, never the end of it
                        log.warning("live feed: entry %s of %s skipped: %s: %s", self.last[name], name,
                                    type(e).__name__, e)
            if ms:
                self.fan_out(ms)
                await asyncio.sleep(self.batch_s)

    def fan_out(self, ms: Iterable[dict]) -> None:
        ms = list(ms)
        frames: dict[frozenset[str], tuple[str, int]] = {}
        for c in list(self.clients):
            c.offer(ms, frames)
        self.delivered += len(ms)

    async def backlog(self, since: dict[str, str]) -> list[dict]:
        """What was written after the given ids, oldest first (as far as the streams still hold it)."""
        out = []
        for name, start in since.items():
            for eid, fields in await self.redis.xrange(STREAMS[name], min=f"({start}", max="+", count=10_000):
                out += messages(name, eid, fields, self.district_of)
        return out


async def serve(request: web.Request, hub: Hub, principal: Principal) -> web.WebSocketResponse:
    """Frames are JSON arrays of messages; the first frame after what was missed is ``[{"kind":
    "hello", …}]``."""
    since = {name: request.query[name] for name in STREAMS if request.query.get(name)}
    for name, value in since.items():
        try:
            _id(value)
        except ValueError:
            raise web.HTTPBadRequest(text=f"{name} must be a stream id (like 1796000000000-0)") from None
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    client = Client(principal, hub.queue_size, holding=[] if since else None)
    hub.clients.add(client)  # live messages are kept from now on …
    try:
        old = [m for m in (await hub.backlog(since) if since else []) if principal.sees(m["district"])]
        for k in range(0, len(old), 500):  # … while what was missed is read back
            await ws.send_str(_frame(old[k:k + 500]))
        await ws.send_str(_frame([{"kind": "hello", "owner": principal.owner, "resumed": len(old)}]))
        if since:
            after = {name: _id(value) for name, value in since.items()}
            for m in old:
                after[m["stream"]] = max(after[m["stream"]], _id(m["id"]))
            client.release(after)
        reader = asyncio.ensure_future(ws.receive())  # the client says nothing; this notices it went
        while not ws.closed:
            if not client.frames and not client.dropped:
                client.wake.clear()
                woke = asyncio.ensure_future(client.wake.wait())
                done, _ = await asyncio.wait({woke, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    woke.cancel()
                    break
            if client.dropped:
                await ws.close(code=TOO_SLOW, message=b"too slow: reconnect with the ids you have")
                break
            text, n = client.frames.popleft()
            client.pending -= n
            await ws.send_str(text)
        reader.cancel()
    finally:
        hub.clients.discard(client)
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws
