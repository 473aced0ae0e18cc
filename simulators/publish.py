"""Publishing a simulation: paced by the scenario's time acceleration, or as load at a target
rate from several processes — as the device contract asks: QoS 1, a publish the broker
answers 0x10 ("No matching subscribers": nobody received it) sent again, and publishes made
while disconnected kept and sent after the reconnect."""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
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
    undelivered: int = 0  # acknowledged 0x10 (nobody subscribed) and not taken on a retry either

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


NO_MATCHING_SUBSCRIBERS = 0x10


class _Window:
    """QoS 1 publishes in flight: waits for their acknowledgements every `size` messages, and
    sends again each one the broker acknowledged with 0x10 (delivered to nobody)."""

    def __init__(self, client: mqtt.Client, size: int = 1000, retry_s: float = 0.2, retry: bool = True,
                 give_up_s: float = 60.0):
        """retry False: a client that does not follow the contract (it only counts, in
        `undelivered`, the publishes the broker delivered to nobody); with retry, a publish
        nobody has taken for `give_up_s` (nobody subscribes at all) is given up and counted."""
        self.client = client
        self.size = size
        self.retry_s = retry_s
        self.retry = retry
        self.give_up_s = give_up_s
        self.undelivered = 0  # answers 0x10 (delivered to nobody), retried or not
        self.lost = 0  # never delivered: not retried, or given up
        self.pending: list[mqtt.MQTTMessageInfo] = []
        self._sent: dict[int, tuple] = {}
        self._early: dict[int, int] = {}  # acknowledged before publish() returned its mid
        self._again: list[tuple] = []
        self._lock = threading.Lock()  # never held while calling into paho (it calls back under its own)
        self.resent = 0
        self._retrying_since: float | None = None
        client.on_publish = self._on_publish

    def publish(self, topic: str, payload: bytes, properties=None) -> None:
        info = self.client.publish(topic, payload, qos=1, properties=properties)
        with self._lock:
            code = self._early.pop(info.mid, None)
            if code is None:
                self._sent[info.mid] = (topic, payload, properties)
            elif code == NO_MATCHING_SUBSCRIBERS:
                self._nobody((topic, payload, properties))
        self.pending.append(info)
        if len(self.pending) >= self.size:
            self.drain()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        code = getattr(reason_code, "value", 0)
        with self._lock:
            sent = self._sent.pop(mid, None)
            if sent is None:
                self._early[mid] = code
            elif code == NO_MATCHING_SUBSCRIBERS:
                self._nobody(sent)

    def _nobody(self, sent: tuple) -> None:  # under the lock
        self.undelivered += 1
        if self.retry:
            self._again.append(sent)
        else:
            self.lost += 1

    def drain(self, timeout_s: float = 60.0) -> None:
        """Until every publish is acknowledged, those made while disconnected included (paho
        sends them after the reconnect), and each one delivered to nobody has been sent again."""
        while True:
            deadline = time.monotonic() + timeout_s
            last = None
            while True:
                with self._lock:
                    left = len(self._sent)
                if not left:
                    break
                if left != last:
                    deadline, last = time.monotonic() + timeout_s, left
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{left} publishes not acknowledged in {timeout_s:.0f} s")
                time.sleep(0.01)
            self.pending.clear()
            with self._lock:
                again, self._again = self._again, []
            if not again:
                self._retrying_since = None
                return
            self._retrying_since = self._retrying_since or time.monotonic()
            if time.monotonic() - self._retrying_since > self.give_up_s:
                self.lost += len(again)
                self.retry = False  # nobody subscribes at all: stop waiting for anyone
                return
            time.sleep(self.retry_s)  # until someone subscribes again (a worker reconnecting)
            for topic, payload, properties in again:
                self.resent += 1
                self.publish(topic, payload, properties)


def _client(broker: Broker, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5 if broker.v5 else mqtt.MQTTv311)
    if broker.username:
        c.username_pw_set(broker.username, broker.password)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(0.1, 1.0)
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
    window = _Window(c)
    sent = 0
    try:
        for m in tqdm(messages, desc="publishing", unit="msg", disable=not progress, file=sys.stderr, leave=False):
            if stop is not None and stop.is_set():
                break
            if acceleration:
                wait = (m.at - first) / acceleration - (time.monotonic() - t0)
                if wait > 0:
                    time.sleep(wait)
            window.publish(m.topic, m.payload, _captured(m, broker))
            sent += 1
        window.drain()
    finally:
        c.disconnect()
        c.loop_stop()
    return PublishReport(sent, time.monotonic() - t0, window.lost)


def _load_worker(k: int, part: list[tuple[str, bytes]], broker: Broker, rate: float, seconds: float, result) -> None:
    c = _client(broker, f"pingan-load-{k}")
    t0 = time.monotonic()
    sent = 0
    window = _Window(c, 500, retry=False)  # load: what the broker takes, subscribers or not
    while time.monotonic() - t0 < seconds:
        topic, payload = part[sent % len(part)]
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
        window.publish(topic, payload)
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
