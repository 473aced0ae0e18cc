"""Camera availability by time: the share of a period each camera was up, not the share of the
heartbeats that happened to arrive.

The rules, for an auditor:

1. **Events.** A camera is heard from by its heartbeats (``online`` true or false), its status
   messages (``online`` / ``offline``, its last will) and Frigate's stats (a camera at 0 fps is
   offline), each at the device's own time where the message carries one.
2. **Up and down.** After an event saying it is online, a camera is up until its next event.
   After one saying it is offline, it is down until it is heard from again online.
3. **Missed heartbeats.** A silence after an online event that lasts longer than ``missed`` ×
   its heartbeat interval is an outage from the moment the first missed heartbeat was due (the
   last event + one interval) until the camera is heard from again. A shorter silence is a late
   heartbeat, not an outage. A silence still running at the time of computing counts the same way
   up to that time.
4. **Unknown.** Before a camera is first heard from, and whenever the ingest itself was not
   receiving (``unobserved`` stretches), its state is unknown, never up or down. After such a
   stretch the camera keeps its last known state, with the silence rule counting afresh.
5. **Periods** are cut exactly at their edges: what happened before the period (the last
   event) decides the state at its start; a silence running past the period's end is judged by
   when the camera was next heard from.
6. **Outages** are counted where a down stretch begins after a stretch that was not down.

Everything here is vectorised over all cameras at once (NumPy); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .spans import merge

UP, DOWN, UNKNOWN = 0, 1, 2
_BLIND, _RESUME = 2, 3  # anchor kinds beyond the real events' online (0) / offline (1)


@dataclass(frozen=True)
class CameraEvents:
    """Every camera's events as parallel arrays; `camera` indexes the caller's camera list. The
    events must include, per camera, the last one before the period (if any) and those up to
    ``missed`` heartbeat intervals past its end (or the first one after it)."""

    camera: np.ndarray  # int64
    ts: np.ndarray  # epoch seconds
    online: np.ndarray  # bool

    @classmethod
    def of(cls, camera, ts, online) -> "CameraEvents":
        return cls(np.asarray(camera, dtype=np.int64), np.asarray(ts, dtype=float), np.asarray(online, dtype=bool))


@dataclass(frozen=True)
class Availability:
    """Seconds per camera (rows) and bucket (columns; one column without buckets)."""

    up: np.ndarray
    down: np.ndarray
    unknown: np.ndarray
    outages: np.ndarray  # int
    longest_outage: np.ndarray  # per camera, seconds of the longest down stretch within the period
    bucket_start: np.ndarray  # epoch seconds of each column

    def uptime(self) -> np.ndarray:
        """Share of the known time each camera was up (NaN when nothing is known), whole period."""
        up, down = self.up.sum(axis=1), self.down.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(up + down > 0, up / (up + down), np.nan)


def _segments(ev: CameraEvents, heartbeat_s: np.ndarray, missed: float,
              unobserved: np.ndarray, now: float):
    """Segments (camera, start, end, state) covering each camera from its first event to `now`."""
    order = np.lexsort((~ev.online, ev.ts, ev.camera))  # at one instant, offline is taken last
    cam, ts = ev.camera[order], ev.ts[order]
    kind = np.where(ev.online[order], 0, 1)
    # blind (start of an unobserved stretch) and resume (its end) anchors, for every camera heard of
    heard = np.unique(cam)
    if len(unobserved) and len(heard):
        k = len(unobserved)
        cam = np.concatenate([cam, np.repeat(heard, 2 * k)])
        ts = np.concatenate([ts, np.tile(unobserved.ravel(), len(heard))])
        kind = np.concatenate([kind, np.tile(np.tile([_BLIND, _RESUME], k), len(heard))])
        order = np.lexsort((kind == _RESUME, ts, cam))  # a resume after whatever shares its instant
        cam, ts, kind = cam[order], ts[order], kind[order]
    n = len(ts)
    if n == 0:
        return (np.zeros(0, np.int64),) + (np.zeros(0),) * 2 + (np.zeros(0, np.int64),)
    first = np.ones(n, dtype=bool)
    first[1:] = cam[1:] != cam[:-1]
    # the state each anchor sets: real events theirs; a resume the last real event's, if any
    real = kind <= 1
    last_real = np.where(real, np.arange(n), -1)
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    last_real = np.maximum.accumulate(last_real)
    has_prior = last_real >= group_start
    state = np.where(real, kind, UNKNOWN)
    resume = kind == _RESUME
    state[resume] = np.where(has_prior[resume], kind[np.clip(last_real[resume], 0, None)], UNKNOWN)
    state[(kind == _BLIND)] = UNKNOWN
    state[~has_prior & ~real] = UNKNOWN
    nxt = np.empty(n)
    nxt[:-1] = ts[1:]
    last = np.ones(n, dtype=bool)
    last[:-1] = cam[1:] != cam[:-1]
    nxt[last] = now
    nxt = np.maximum(nxt, ts)
    hb = heartbeat_s[cam]
    silent = (state == UP) & (nxt - ts > missed * hb)
    # up until the first missed heartbeat was due, then down: split those segments in two
    s_cam = np.concatenate([cam, cam[silent]])
    s_start = np.concatenate([ts, ts[silent] + hb[silent]])
    s_end = np.concatenate([np.where(silent, ts + hb, nxt), nxt[silent]])
    s_state = np.concatenate([state, np.full(int(silent.sum()), DOWN)])
    keep = s_end > s_start
    return s_cam[keep], s_start[keep], s_end[keep], s_state[keep]


def availability(events: CameraEvents, n_cameras: int, heartbeat_s: Sequence[float] | np.ndarray, missed: float,
                 start: float, end: float, *, now: float, unobserved: Sequence[tuple[float, float]] = (),
                 bucket_s: float | None = None, origin: float = 0.0) -> Availability:
    """Up, down and unknown seconds of cameras 0…n_cameras-1 over [start, end), per bucket of
    `bucket_s` seconds aligned to `origin` when given (for example UTC hours), else for the
    whole period. `now` is the time of computing: nothing after it is known."""
    hb = np.asarray(heartbeat_s, dtype=float)
    blind = np.array(merge(unobserved), dtype=float).reshape(-1, 2)
    end_known = min(end, now)
    cam, s, e, st = _segments(events, hb, missed, blind, now)
    # before its first event a camera is unknown: one leading segment per camera
    first_seen = np.full(n_cameras, np.inf)
    if len(cam):
        np.minimum.at(first_seen, cam, s)
    cam = np.concatenate([cam, np.arange(n_cameras)])
    s = np.concatenate([s, np.full(n_cameras, min(start, end_known))])
    e = np.concatenate([e, np.minimum(first_seen, end_known)])
    st = np.concatenate([st, np.full(n_cameras, UNKNOWN)])
    order = np.lexsort((s, cam))
    cam, s, e, st = cam[order], s[order], e[order], st[order]
    # an outage begins where a down segment does not continue a down one (judged before the
    # period's edges cut anything away)
    opens = st == DOWN
    if len(cam):
        opens[1:] &= ~((cam[1:] == cam[:-1]) & (st[:-1] == DOWN) & (s[1:] <= e[:-1]))
    opens &= s >= start  # one that began before the period is not an outage of the period
    s, e = np.maximum(s, start), np.minimum(e, end_known)
    keep = e > s
    cam, s, e, st, opens = cam[keep], s[keep], e[keep], st[keep], opens[keep]
    # where the ingest was not receiving, every state is unknown
    for a, b in blind:
        lo, hi = np.maximum(s, a), np.minimum(e, b)
        cut = hi > lo
        if cut.any():
            idx = np.nonzero(cut)[0]  # split: before / inside (unknown) / after
            cam = np.concatenate([cam, cam[idx], cam[idx]])
            new_s = np.concatenate([s, lo[idx], hi[idx]])
            new_e = np.concatenate([np.where(cut, lo, e), hi[idx], e[idx]])
            st = np.concatenate([st, np.full(len(idx), UNKNOWN), st[idx]])
            opens = np.concatenate([opens, np.zeros(2 * len(idx), dtype=bool)])
            s, e = new_s, new_e
            keep = e > s
            cam, s, e, st, opens = cam[keep], s[keep], e[keep], st[keep], opens[keep]
    order = np.lexsort((s, cam))
    cam, s, e, st, opens = cam[order], s[order], e[order], st[order], opens[order]
    outage_start = opens
    # the longest outage: runs of adjacent down segments within the period
    longest = np.zeros(n_cameras)
    down = np.nonzero(st == DOWN)[0]
    if len(down):
        new_run = np.ones(len(down), dtype=bool)
        new_run[1:] = ~((cam[down][1:] == cam[down][:-1]) & (s[down][1:] <= e[down][:-1]))
        run = np.cumsum(new_run) - 1
        length = np.bincount(run, e[down] - s[down])
        run_cam = np.zeros(len(length), dtype=np.int64)
        run_cam[run] = cam[down]
        np.maximum.at(longest, run_cam, length)
    # buckets
    if bucket_s is None:
        edges = np.array([start])
        width = end - start
        b0 = np.zeros(len(s), dtype=np.int64)
        b1 = b0
    else:
        first_b = np.floor((start - origin) / bucket_s)
        edges = origin + bucket_s * np.arange(first_b, np.ceil((end - origin) / bucket_s))
        width = bucket_s
        b0 = np.floor((s - edges[0]) / width).astype(np.int64)
        b1 = np.ceil((e - edges[0]) / width).astype(np.int64) - 1
    nb = len(edges)
    pieces = b1 - b0 + 1
    rep = np.repeat(np.arange(len(s)), pieces)
    b = np.repeat(b0, pieces) + (np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces))
    lo = np.maximum(s[rep], edges[b] if bucket_s else start)
    hi = np.minimum(e[rep], edges[b] + width if bucket_s else end)
    secs = np.maximum(hi - lo, 0.0)
    flat = cam[rep] * nb + b
    out = [np.bincount(flat[st[rep] == k], secs[st[rep] == k], n_cameras * nb).reshape(n_cameras, nb)
           for k in (UP, DOWN, UNKNOWN)]
    ob = np.floor((s[outage_start] - edges[0]) / width).astype(np.int64) if bucket_s else np.zeros(
        int(outage_start.sum()), np.int64)
    outages = np.bincount(cam[outage_start] * nb + ob, minlength=n_cameras * nb).reshape(n_cameras, nb)
    # time after `now` (a period reaching into the future) is unknown too
    if end > end_known:
        future = np.zeros((n_cameras, nb))
        if bucket_s:
            future += np.clip(np.minimum(edges + width, end) - np.maximum(edges, end_known), 0, None)
        else:
            future += end - end_known
        out[2] = out[2] + future
    return Availability(out[0], out[1], out[2], outages, longest, edges)
