"""Camera availability by time, every figure worked out by hand in the comments.

Times are minutes after 08:00; heartbeats every 60 s; a silence of more than 3 intervals is
an outage from the moment the first missed heartbeat was due."""

from __future__ import annotations

import numpy as np
import pytest

from geofence.uptime import CameraEvents, availability

T0 = 1_795_000_000.0  # 08:00 on some day
H = 3600.0


def t(minutes: float) -> float:
    return T0 + 60 * minutes


def heartbeats(first: float, last: float, every: float = 1.0) -> list[float]:
    """Heartbeat times from minute `first` to `last` inclusive."""
    return [t(m) for m in np.arange(first, last + 1e-9, every)]


def run(per_camera: list[list[tuple[float, bool]]], start=T0, end=T0 + H, now=T0 + 3 * H, **kw):
    cam, ts, online = [], [], []
    for i, evs in enumerate(per_camera):
        for when, on in evs:
            cam.append(i)
            ts.append(when)
            online.append(on)
    return availability(CameraEvents.of(cam, ts, online), len(per_camera), [60.0] * len(per_camera), 3.0,
                        start, end, now=now, **kw)


def test_a_silent_camera_is_down_from_its_first_missed_heartbeat():
    # heard 07:00…08:20, silent until 08:35, then every minute to 09:30.
    # 08:20 → 08:35 is 15 min > 3 min: up until 08:21 (the next heartbeat was due), down 08:21 → 08:35.
    evs = [(x, True) for x in heartbeats(-60, 20) + heartbeats(35, 90)]
    a = run([evs])
    assert a.down[0, 0] == pytest.approx(14 * 60)
    assert a.up[0, 0] == pytest.approx(3600 - 14 * 60)
    assert a.unknown[0, 0] == 0 and a.outages[0, 0] == 1
    assert a.uptime()[0] == pytest.approx(46 / 60)
    assert a.longest_outage[0] == pytest.approx(14 * 60)


def test_a_late_heartbeat_is_not_an_outage():
    # a 2.5-minute silence (08:10 → 08:12:30) is within 3 intervals
    evs = [(x, True) for x in heartbeats(-5, 10) + heartbeats(12.5, 70.5)]
    a = run([evs])
    assert a.down[0, 0] == 0 and a.up[0, 0] == 3600 and a.outages[0, 0] == 0


def test_an_explicit_offline_stretch():
    # heartbeats to 08:10, "offline" at 08:10:30 (its last will), back online at 08:25:30:
    # down exactly 15 minutes, from the moment it said so.
    evs = [(x, True) for x in heartbeats(-5, 10)] + [(t(10.5), False)] + [
        (x, True) for x in heartbeats(25.5, 70.5)]
    a = run([evs])
    assert a.down[0, 0] == pytest.approx(900) and a.up[0, 0] == pytest.approx(2700) and a.outages[0, 0] == 1


def test_heartbeats_saying_offline_keep_it_down_until_one_says_online():
    evs = ([(x, True) for x in heartbeats(-5, 29)] + [(x, False) for x in heartbeats(30, 44)]
           + [(x, True) for x in heartbeats(45, 70)])
    a = run([evs])
    assert a.down[0, 0] == pytest.approx(15 * 60) and a.outages[0, 0] == 1


def test_silences_and_outages_across_the_period_edges():
    # offline since 07:50 (last will), online at 08:05: down 08:00 → 08:05 in the period;
    # last heartbeat 08:50, next 09:10: down from 08:51 to the period's end at 09:00.
    evs = [(x, True) for x in heartbeats(-20, -11)] + [(t(-10), False)] + [
        (x, True) for x in heartbeats(5, 50)] + [(t(70), True)]
    a = run([evs])
    assert a.down[0, 0] == pytest.approx(5 * 60 + 9 * 60)
    assert a.up[0, 0] == pytest.approx(3600 - 14 * 60)
    assert a.outages[0, 0] == 1  # the one beginning inside the period; the first began at 07:50
    # the same hour seen from 08:00 to 08:30 only: the silence after 08:50 is not in it
    b = run([evs], end=t(30))
    assert b.down[0, 0] == pytest.approx(300) and b.up[0, 0] == pytest.approx(1500)


def test_before_it_is_first_heard_from_a_camera_is_unknown():
    evs = [(x, True) for x in heartbeats(30, 70)]
    a = run([evs, []])
    assert a.unknown[0, 0] == pytest.approx(1800) and a.up[0, 0] == pytest.approx(1800)
    assert a.unknown[1, 0] == 3600 and np.isnan(a.uptime()[1])  # never heard from at all


def test_while_the_ingest_was_not_receiving_everything_is_unknown():
    # the ingest heard nothing 08:40 → 08:50; the camera's heartbeats in it were lost, the
    # next one came at 08:50:30: unknown 10 minutes, no outage (the silence rule counts afresh).
    evs = [(x, True) for x in heartbeats(-5, 40) + heartbeats(50.5, 70.5)]
    a = run([evs], unobserved=[(t(40), t(50))])
    assert a.unknown[0, 0] == pytest.approx(600) and a.down[0, 0] == 0 and a.outages[0, 0] == 0
    # a camera that really died at 08:35 and never came back: down 08:36 → 08:40, unknown while
    # the ingest was away, then down again from 08:51 (08:50 + one interval) once it is back
    dead = [(x, True) for x in heartbeats(-5, 35)]
    b = run([dead], unobserved=[(t(40), t(50))])
    assert b.unknown[0, 0] == pytest.approx(600)
    assert b.down[0, 0] == pytest.approx(4 * 60 + 9 * 60)
    assert b.up[0, 0] == pytest.approx(36 * 60 + 60)


def test_hourly_buckets_split_an_outage_at_the_hour():
    # two hours; offline 08:50 → 09:20
    evs = [(x, True) for x in heartbeats(-5, 49)] + [(t(50), False)] + [(x, True) for x in heartbeats(80, 130)]
    a = run([evs], end=T0 + 2 * H, bucket_s=H, origin=T0)
    assert list(a.down[0]) == pytest.approx([600, 1200])
    assert list(a.up[0]) == pytest.approx([3000, 2400])
    assert list(a.outages[0]) == [1, 0] and list(a.bucket_start) == [T0, T0 + H]


def test_nothing_after_now_is_known():
    # computed at 08:30; the last heartbeat 08:29 is within the tolerance: up so far
    evs = [(x, True) for x in heartbeats(-5, 29)]
    a = run([evs], now=t(30))
    assert a.up[0, 0] == pytest.approx(1800) and a.unknown[0, 0] == pytest.approx(1800) and a.down[0, 0] == 0
    # computed at 08:40 with nothing since 08:29: down from 08:30
    b = run([evs], now=t(40))
    assert b.down[0, 0] == pytest.approx(600) and b.up[0, 0] == pytest.approx(1800)
