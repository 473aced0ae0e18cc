"""Live traffic for the built-in demo city (``pingan.democity``: 16 grid cells, 12 cameras,
2 checkpoints, 8 patrol units), so ``pingan run --simulate demo`` shows the whole path working
with nothing configured. Deterministic for a given seed.
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

from pingan.democity import EAST, NORTH, SOUTH, WEST, demo_city

log = logging.getLogger(__name__)

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
        self.city = demo_city()
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
