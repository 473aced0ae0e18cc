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
from geofence.spans import complement
from geofence.uptime import Availability, CameraEvents, availability
from store.queries import read_camera_events, read_observed
from store.results import HOUR_S, HourRows, fresh_days, fresh_hours, refresh_daily, write_hours

from .periods import city_days
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
    blind = complement(seen, start - LOOKBACK_S, min(now, end + tail)) if now > start - LOOKBACK_S else []
    return availability(CameraEvents(ev.camera.astype(np.int64), ev.ts, ev.online), len(cameras), heartbeat,
                        missed, start, end, now=now, unobserved=blind,
                        bucket_s=HOUR_S if hourly else None, origin=0.0)


def camera_uptime(conn: psycopg.Connection, cameras: Sequence[Camera], std: Standards, start: float, end: float,
                  now: float, *, timescale: bool = False, store: bool = True) -> list[CameraUptime]:
    """Up, down and unknown seconds of each camera over [start, end), cut exactly at its edges:
    whole closed days from the daily aggregate, whole closed hours from the hourly rows (computed
    and stored where missing or stale), the rest from the raw events."""
    if not cameras:
        return []
    acc = _Totals(len(cameras))
    hb = np.array([std.heartbeat_s(c) for c in cameras], dtype=float)
    closed = min(end, now - SETTLE_S)
    h0 = math.ceil(start / HOUR_S) * HOUR_S
    h1 = max(h0, math.floor(closed / HOUR_S) * HOUR_S)
    days = _whole_days(h0, h1, std.timezone)
    need: list[tuple[float, float, np.ndarray]] = []  # hour spans, and which cameras take them
    everyone = np.ones(len(cameras), dtype=bool)
    if days:
        totals = fresh_days(conn, [c.id for c in cameras], hb, std.missed_heartbeats, days, std.timezone)
        acc.add_arrays(np.arange(len(cameras)), totals.up, totals.down, totals.unknown, totals.outages)
        need += [(h0, days[0][0], everyone), (days[-1][1], h1, everyone)]
        for a, b in days:
            who = np.array([a in r for r in totals.redo])
            if who.any():
                need.append((a, b, who))
    else:
        need.append((h0, h1, everyone))
    for a, b, who in need:
        if b > a:
            _hours(conn, cameras, hb, std, a, b, now, who, acc, timescale=timescale, store=store)
    for a, b in ([(start, h0), (h1, end)] if h1 > h0 else [(start, end)]):
        if b > a:
            part = _compute(conn, cameras, hb, std.missed_heartbeats, a, b, now, hourly=False)
            acc.add_arrays(np.arange(len(cameras)), part.up[:, 0], part.down[:, 0], part.unknown[:, 0],
                           part.outages[:, 0])
    return [CameraUptime(c.id, float(u), float(d), float(k), int(o))
            for c, u, d, k, o in zip(cameras, acc.up, acc.down, acc.unknown, acc.outages, strict=True)]


class _Totals:
    def __init__(self, n: int):
        self.up, self.down, self.unknown = np.zeros(n), np.zeros(n), np.zeros(n)
        self.outages = np.zeros(n, dtype=np.int64)

    def add_arrays(self, cam, up, down, unknown, outages) -> None:
        np.add.at(self.up, cam, up)
        np.add.at(self.down, cam, down)
        np.add.at(self.unknown, cam, unknown)
        np.add.at(self.outages, cam, outages)


def _whole_days(a: float, b: float, tz: str) -> list[tuple[float, float]]:
    """The city's whole days within [a, b)."""
    return [(d0, d1) for _, d0, d1 in city_days(a, b, tz) if d0 >= a and d1 <= b]


def _hours(conn: psycopg.Connection, cameras: Sequence[Camera], hb: np.ndarray, std: Standards, a: float, b: float,
           now: float, who: np.ndarray, acc: _Totals, *, timescale: bool, store: bool) -> None:
    """Whole hours [a, b) for the cameras in `who`: stored rows where valid, the rest computed
    (and stored) from the raw events."""
    ids = [c.id for c in cameras]
    missed = std.missed_heartbeats
    stored = fresh_hours(conn, ids, hb, missed, a, b)
    hours = np.arange(a, b, HOUR_S)
    have = np.zeros((len(cameras), len(hours)), dtype=bool)
    have[stored.camera, ((stored.bucket - a) // HOUR_S).astype(np.int64)] = True
    take = who[stored.camera]
    acc.add_arrays(stored.camera[take], stored.up[take], stored.down[take], stored.unknown[take],
                   stored.outages[take])
    missing = ~have[who].all(axis=0)
    for s, e in _runs(hours, missing):
        rows = _rows_of(_compute(conn, cameras, hb, missed, s, e, now, hourly=True))
        new = ~have[rows.camera, ((rows.bucket - a) // HOUR_S).astype(np.int64)] & who[rows.camera]
        acc.add_arrays(rows.camera[new], rows.up[new], rows.down[new], rows.unknown[new], rows.outages[new])
        if store:
            write_hours(conn, ids, hb, missed, rows, std.timezone, timescale)
            if timescale and e < now - 35 * 86_400:
                refresh_daily(conn, s, e)


def _rows_of(a: Availability) -> HourRows:
    """Every camera × hour of an hourly availability, as rows."""
    n, nb = a.up.shape
    return HourRows(np.repeat(np.arange(n), nb), np.tile(a.bucket_start, n), a.up.ravel(), a.down.ravel(),
                    a.unknown.ravel(), a.outages.ravel())


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
