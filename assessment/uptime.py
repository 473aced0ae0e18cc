"""Camera uptime for any period, read from the store: whole closed hours from the stored
hourly seconds (computed once, and again when late data makes them stale), the rest — the
edges of the period and the hour still running — from the raw events. The rule itself is
``geofence.uptime``."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import psycopg

from geofence.sites import Camera
from geofence.uptime import Availability, CameraEvents, availability
from store.queries import read_camera_events, read_observed, unobserved
from store.results import HOUR_S, HourRows, fresh_hours, refresh_daily, write_hours

from .standards import Standards

log = logging.getLogger(__name__)

SETTLE_S = 300.0  # an hour is stored this long after it ends; data later than that marks it stale
LOOKBACK_S = 86_400.0  # ingest outages this long before a period still shape the cameras' state in it


@dataclass(frozen=True)
class CameraUptime:
    camera_id: str
    up_s: float
    down_s: float
    unknown_s: float
    outages: int

    @property
    def uptime(self) -> float | None:
        """Share of the known time the camera was up."""
        known = self.up_s + self.down_s
        return self.up_s / known if known > 0 else None


def _compute(conn: psycopg.Connection, cameras: Sequence[Camera], heartbeat: np.ndarray, missed: float,
             start: float, end: float, now: float, hourly: bool) -> Availability:
    tail = missed * float(heartbeat.max(initial=60.0))
    ev = read_camera_events(conn, [c.id for c in cameras], start, end, tail)
    seen = read_observed(conn, start - LOOKBACK_S, max(end + tail, start))
    blind = unobserved(seen, start - LOOKBACK_S, min(now, end + tail)) if now > start - LOOKBACK_S else []
    return availability(CameraEvents(ev.camera.astype(np.int64), ev.ts, ev.online), len(cameras), heartbeat,
                        missed, start, end, now=now, unobserved=blind,
                        bucket_s=HOUR_S if hourly else None, origin=0.0)


def camera_uptime(conn: psycopg.Connection, cameras: Sequence[Camera], std: Standards, start: float, end: float,
                  now: float, *, timescale: bool = False, store: bool = True) -> list[CameraUptime]:
    """Up, down and unknown seconds of each camera over [start, end), cut exactly at its edges."""
    if not cameras:
        return []
    ids = [c.id for c in cameras]
    hb = np.array([std.heartbeat_s(c) for c in cameras], dtype=float)
    missed = std.missed_heartbeats
    up, down, unk = np.zeros(len(cameras)), np.zeros(len(cameras)), np.zeros(len(cameras))
    outages = np.zeros(len(cameras), dtype=np.int64)
    h0 = math.ceil(start / HOUR_S) * HOUR_S
    h1 = math.floor(min(end, now - SETTLE_S) / HOUR_S) * HOUR_S
    edges = [(start, end)]
    if h1 > h0:
        edges = [(start, h0), (h1, end)]
        stored = fresh_hours(conn, ids, hb, missed, h0, h1)
        hours = np.arange(h0, h1, HOUR_S)
        have = np.zeros((len(cameras), len(hours)), dtype=bool)
        have[stored.camera, ((stored.bucket - h0) // HOUR_S).astype(np.int64)] = True
        _add(stored, up, down, unk, outages)
        missing = ~have.all(axis=0)
        for a, b in _runs(hours, missing):
            rows = _rows_of(_compute(conn, cameras, hb, missed, a, b, now, hourly=True))
            new = ~have[rows.camera, ((rows.bucket - h0) // HOUR_S).astype(np.int64)]  # not counted yet
            _add(HourRows(*(x[new] for x in (rows.camera, rows.bucket, rows.up, rows.down, rows.unknown,
                                             rows.outages))), up, down, unk, outages)
            if store:
                write_hours(conn, ids, hb, missed, rows, std.timezone, timescale)
                if timescale and b < now - 35 * 86_400:
                    refresh_daily(conn, a, b)
    for a, b in edges:
        if b > a:
            part = _compute(conn, cameras, hb, missed, a, b, now, hourly=False)
            up += part.up[:, 0]
            down += part.down[:, 0]
            unk += part.unknown[:, 0]
            outages += part.outages[:, 0]
    return [CameraUptime(i, float(u), float(d), float(k), int(o))
            for i, u, d, k, o in zip(ids, up, down, unk, outages, strict=True)]


def _rows_of(a: Availability) -> HourRows:
    """Every camera × hour of an hourly availability, as rows."""
    n, nb = a.up.shape
    return HourRows(np.repeat(np.arange(n), nb), np.tile(a.bucket_start, n), a.up.ravel(), a.down.ravel(),
                    a.unknown.ravel(), a.outages.ravel())


def _add(rows: HourRows, up, down, unk, outages) -> None:
    np.add.at(up, rows.camera, rows.up)
    np.add.at(down, rows.camera, rows.down)
    np.add.at(unk, rows.camera, rows.unknown)
    np.add.at(outages, rows.camera, rows.outages)


def _runs(hours: np.ndarray, missing: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of missing hours as [start, end) spans."""
    out: list[tuple[float, float]] = []
    for h, m in zip(hours, missing, strict=True):
        if not m:
            continue
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + HOUR_S)
        else:
            out.append((float(h), float(h + HOUR_S)))
    return out
