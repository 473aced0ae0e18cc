"""Publishing a simulation: paced by the scenario's time acceleration, or as load at a target
rate from several processes."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from tqdm import tqdm

from .scenario import Outgoing


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    v5: bool = True


@dataclass(frozen=True)
class PublishReport:
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


class _Window:
    """QoS 1 publishes in flight: waits for their acknowledgements every `size` messages."""

    def __init__(self, size: int = 1000):
        self.size = size
        self.pending: list[mqtt.MQTTMessageInfo] = []

    def add(self, info: mqtt.MQTTMessageInfo) -> None:
        self.pending.append(info)
        if len(self.pending) >= self.size:
            self.drain()

    def drain(self) -> None:
        for info in self.pending:
            info.wait_for_publish(60)
        self.pending.clear()


def _client(broker: Broker, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5 if broker.v5 else mqtt.MQTTv311)
    if broker.username:
        c.username_pw_set(broker.username, broker.password)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def _captured(m: Outgoing, broker: Broker):
    """Snapshots carry the time the image was taken as an MQTT v5 user property."""
    if not broker.v5 or not m.topic.endswith("/snapshot"):
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("ts", f"{m.at:.3f}")]
    return props


def publish(messages: list[Outgoing], broker: Broker, acceleration: float | None, client_id: str = "pingan-sim",
            progress: bool = True, stop=None) -> PublishReport:
    """In the order of their simulated send times; `acceleration` simulated seconds per real
    second (None: as fast as the broker takes them). QoS 1; returns when all are acknowledged."""
    c = _client(broker, client_id)
    t0 = time.monotonic()
    first = messages[0].at if messages else 0.0
    window = _Window()
    sent = 0
    try:
        for m in tqdm(messages, desc="publishing", unit="msg", disable=not progress, file=sys.stderr, leave=False):
            if stop is not None and stop.is_set():
                break
            if acceleration:
                wait = (m.at - first) / acceleration - (time.monotonic() - t0)
                if wait > 0:
                    time.sleep(wait)
            window.add(c.publish(m.topic, m.payload, qos=1, properties=_captured(m, broker)))
            sent += 1
        window.drain()
    finally:
        c.disconnect()
        c.loop_stop()
    return PublishReport(sent, time.monotonic() - t0)


def _load_worker(k: int, part: list[tuple[str, bytes]], broker: Broker, rate: float, seconds: float, result) -> None:
    c = _client(broker, f"pingan-load-{k}")
    t0 = time.monotonic()
    sent = 0
    window = _Window(500)
    while time.monotonic() - t0 < seconds:
        topic, payload = part[sent % len(part)]
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
        window.add(c.publish(topic, payload, qos=1))
        sent += 1
    window.drain()
    result.put((sent, time.monotonic() - t0))
    c.disconnect()
    c.loop_stop()


def publish_load(messages: list[Outgoing], broker: Broker, rate: float, processes: int, seconds: float) -> PublishReport:
    """Publish the messages over and over at `rate` msg/s in all, split over `processes`, for
    `seconds`; the rate reached is what the broker acknowledged."""
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    items = [(m.topic, m.payload) for m in messages]
    procs = [ctx.Process(target=_load_worker, args=(k, items[k::processes], broker, rate / processes, seconds, result))
             for k in range(processes)]
    for p in procs:
        p.start()
    got = [result.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    return PublishReport(sum(n for n, _ in got), max(s for _, s in got))


class ScenarioTraffic:
    """A simulation published in a thread of its own, paced by its acceleration."""

    def __init__(self, messages: list[Outgoing], broker: Broker, acceleration: float | None):
        import threading

        self.messages = messages
        self.broker = broker
        self.acceleration = acceleration
        self.finished = threading.Event()
        self._stop = threading.Event()
        self.report: PublishReport | None = None
        self._thread = threading.Thread(target=self._run, name="scenario-traffic", daemon=True)

    @property
    def published(self) -> int:
        return self.report.messages if self.report else 0

    def _run(self) -> None:
        try:
            self.report = publish(self.messages, self.broker, self.acceleration, progress=False, stop=self._stop)
        finally:
            self.finished.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
