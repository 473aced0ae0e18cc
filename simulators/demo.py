"""The built-in demo: a small city (16 grid cells, 12 cameras, 2 checkpoints, 8 patrol units)
and live traffic for it, so ``pingan run --simulate demo`` shows the whole path working with
nothing configured. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

# A rectangle of a city at about 32° N: 2 districts × 2 streets × 2×2 grid cells.
WEST, SOUTH, EAST, NORTH = 118.74, 32.02, 118.82, 32.08


def _box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def demo_city(seed: int = 7) -> dict[str, Any]:
    """GeoJSON grid, cameras and checkpoints, and the unit list of the demo city."""
    rnd = random.Random(seed)
    grid = [_feature(_box(WEST, SOUTH, EAST, NORTH), id="C", level="city", name="Demo City")]
    mid_x, mid_y = (WEST + EAST) / 2, (SOUTH + NORTH) / 2
    cells = []
    for d, (dx0, dx1) in enumerate(((WEST, mid_x), (mid_x, EAST)), start=1):
        did = f"D{d}"
        grid.append(_feature(_box(dx0, SOUTH, dx1, NORTH), id=did, level="district", parent="C",
                             name=f"District {d}"))
        for s, (sy0, sy1) in enumerate(((SOUTH, mid_y), (mid_y, NORTH)), start=1):
            sid = f"{did}S{s}"
            grid.append(_feature(_box(dx0, sy0, dx1, sy1), id=sid, level="street", parent=did,
                                 name=f"Street {d}-{s}"))
            xs = (dx0, (dx0 + dx1) / 2, dx1)
            ys = (sy0, (sy0 + sy1) / 2, sy1)
            for i in range(2):
                for j in range(2):
                    cid = f"{sid}G{2 * j + i + 1}"
                    key = rnd.random() < 0.25
                    grid.append(_feature(_box(xs[i], ys[j], xs[i + 1], ys[j + 1]), id=cid, level="grid",
                                         parent=sid, name=f"Grid {cid}", priority="key" if key else "normal",
                                         revisit_minutes=30 if key else 120))
                    cells.append((xs[i], ys[j], xs[i + 1], ys[j + 1]))
    categories = ["main_street", "busy_junction", "key_department", "key_site", "perimeter_junction", "other"]
    cameras = []
    for n in range(12):
        x0, y0, x1, y1 = cells[n % len(cells)]
        cameras.append(_feature({"type": "Point", "coordinates": [round(rnd.uniform(x0, x1), 6),
                                                                  round(rnd.uniform(y0, y1), 6)]},
                                id=f"cam{n + 1:02d}", name=f"Camera {n + 1}", category=categories[n % 6],
                                expected_fps=25))
    checkpoints = [
        _feature({"type": "Point", "coordinates": [WEST + 0.002, mid_y]}, id="cp-west", name="West gate",
                 radius_m=80, min_staff=2, schedule=[{"days": "mon-sun", "start": "00:00", "end": "24:00"}]),
        _feature({"type": "Point", "coordinates": [EAST - 0.002, mid_y]}, id="cp-east", name="East gate",
                 radius_m=80, min_staff=2, schedule=[{"days": "mon-sun", "start": "07:00", "end": "22:00"}]),
    ]
    units = [{"id": f"u{n + 1:02d}", "kind": ("car", "bike", "foot")[n % 3], "team": f"D{n % 2 + 1}S{n // 2 % 2 + 1}"}
             for n in range(8)]
    return {
        "grid": {"type": "FeatureCollection", "features": grid},
        "cameras": {"type": "FeatureCollection", "features": cameras},
        "checkpoints": {"type": "FeatureCollection", "features": checkpoints},
        "units": units,
    }


@dataclass
class _Unit:
    id: str
    lon: float
    lat: float
    heading: float
    speed: float  # m/s


class DemoTraffic:
    """Publishes the demo city's live traffic: GPS every `gps_every_s`, camera heartbeats every
    `health_every_s`, a camera that goes offline, check-ins, and a few bad messages that the
    worker must reject with a reason."""

    def __init__(self, host: str, port: int, *, seed: int = 7, gps_every_s: float = 2.0,
                 health_every_s: float = 10.0, username: str | None = None, password: str | None = None):
        self.city = demo_city(seed)
        self.rnd = random.Random(seed)
        self.gps_every = gps_every_s
        self.health_every = health_every_s
        speeds = {"car": 8.0, "bike": 4.0, "foot": 1.4}
        self.units = [_Unit(u["id"], self.rnd.uniform(WEST, EAST), self.rnd.uniform(SOUTH, NORTH),
                            self.rnd.uniform(0, 360), speeds[u["kind"]]) for u in self.city["units"]]
        self.cameras = [f["properties"]["id"] for f in self.city["cameras"]["features"]]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pingan-demo-{seed}",
                                  protocol=mqtt.MQTTv311)
        if username:
            self.client.username_pw_set(username, password)
        self.host, self.port = host, port
        self.published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()

    def _pub(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1)
        self.published += 1

    def _run(self) -> None:
        tick = 0
        next_health = 0.0
        while not self._stop.is_set():
            now = time.time()
            for u in self.units:
                self._move(u)
                self._pub(f"pingan/v1/patrol/{u.id}/gps",
                          {"ts": round(now, 3), "lat": round(u.lat, 6), "lon": round(u.lon, 6),
                           "acc": round(self.rnd.uniform(3, 15), 1), "spd": u.speed, "hdg": round(u.heading, 1),
                           "batt": 80, "officers": [f"{u.id}-a", f"{u.id}-b"], "seq": tick})
            if now >= next_health:
                next_health = now + self.health_every
                for i, cam in enumerate(self.cameras):
                    offline = i == 3 and (tick // 15) % 2 == 1  # cam04 drops out now and then
                    self._pub(f"pingan/v1/camera/{cam}/health",
                              {"ts": round(now, 3), "online": not offline, "fps": 0 if offline else 25,
                               "bitrate_kbps": 0 if offline else 2048, "recording": not offline, "storage_ok": True,
                               "packet_loss": 0.001, "temp_c": 41.5, "uptime_s": 3600 + tick})
                self._pub("pingan/v1/checkpoint/cp-west/checkin",
                          {"ts": round(now, 3), "officer": "u01-a", "action": "on" if tick % 2 == 0 else "off",
                           "method": "nfc"})
            if tick % 10 == 5:  # the kinds of bad input a real fleet sends
                self._pub("pingan/v1/patrol/u02/gps", {"ts": now, "lat": 0.0, "lon": 0.0})
                self._pub("pingan/v1/patrol/u99/gps", {"ts": now, "lat": 32.05, "lon": 118.78})
                self._pub("pingan/v1/camera/cam01/health", b"{not json")
            tick += 1
            self._stop.wait(self.gps_every)

    def _move(self, u: _Unit) -> None:
        u.heading = (u.heading + self.rnd.uniform(-25, 25)) % 360
        d = u.speed * self.gps_every
        u.lat += d * math.cos(math.radians(u.heading)) / 111_320
        u.lon += d * math.sin(math.radians(u.heading)) / (111_320 * math.cos(math.radians(u.lat)))
        if not (WEST < u.lon < EAST and SOUTH < u.lat < NORTH):  # turn back at the city limits
            u.heading = (u.heading + 180) % 360
            u.lon = min(max(u.lon, WEST + 1e-4), EAST - 1e-4)
            u.lat = min(max(u.lat, SOUTH + 1e-4), NORTH - 1e-4)
