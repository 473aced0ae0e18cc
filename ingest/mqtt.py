"""The broker side of a worker: one paho network thread, a bounded hand-off, in-order acks.

MQTT v5: a persistent session (clean_start=False + Session Expiry Interval), a Receive Maximum
that bounds how many unacknowledged messages the broker sends (so a stalled database cannot
make the worker take more than that in memory), and shared subscriptions so workers split the
load. MQTT 3.1.1 (the embedded broker): clean_session=False, plain subscriptions, one worker.

Acks are manual and sent in arrival order, only for messages received on the current
connection: after a reconnect the broker resends what was not acked (DUP flag) and the store's
unique keys make the second write a no-op.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from pingan.config import MqttSettings

from . import metrics
from .records import Message

log = logging.getLogger(__name__)

TOPICS = (
    "pingan/v1/patrol/+/gps",
    "pingan/v1/camera/+/health",
    "pingan/v1/camera/+/snapshot",
    "pingan/v1/camera/+/status",
    "pingan/v1/checkpoint/+/checkin",
    "owntracks/+/+",
    "frigate/stats",
)

# CONNACK reasons after which retrying cannot help (v5 codes; paho maps 3.1.1 codes onto them).
_FATAL = {"Bad user name or password", "Not authorized", "Client identifier not valid",
          "Unsupported protocol version", "Banned"}


class BrokerAuthError(RuntimeError):
    """The broker refused the credentials or the client id; retrying will not help."""


@dataclass(frozen=True)
class Inbound:
    generation: int
    mid: int
    message: Message


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> "BrokerAddress":
        p = urlsplit(url)
        tls = p.scheme in ("mqtts", "ssl")
        return cls(p.hostname or "localhost", p.port or (8883 if tls else 1883),
                   unquote(p.username) if p.username else None, unquote(p.password) if p.password else None, tls)


class MqttSource:
    def __init__(self, settings: MqttSettings, address: BrokerAddress, max_pending: int):
        """max_pending: messages the inbox holds at most (ingest.max_pending_messages)."""
        self.settings = settings
        self.address = address
        self.v5 = settings.protocol == "5"
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.max_pending = max_pending
        self.generation = 0
        self.connected = threading.Event()
        self.fatal: BaseException | None = None
        self._lock = threading.Lock()
        self._closing = False
        self.received = 0  # messages handed to the worker
        self.acked = 0
        if self.v5:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                            protocol=mqtt.MQTTv5, manual_ack=True)
        else:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                            protocol=mqtt.MQTTv311, clean_session=False, manual_ack=True)
        if address.username:
            c.username_pw_set(address.username, address.password)
        if address.tls:
            c.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        kwargs = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.session_expiry_s
            props.ReceiveMaximum = self.settings.receive_maximum
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect_async(self.address.host, self.address.port, self.settings.keepalive_s, **kwargs)
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fatal:
                raise self.fatal
            if self.connected.wait(0.1):
                return True
        return False

    def stop(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason: ReasonCode, properties) -> None:
        if reason.is_failure:
            name = str(reason)
            if name in _FATAL:
                self.fatal = BrokerAuthError(
                    f"broker {self.address.host}:{self.address.port} refused the connection: {name} "
                    f"(check the user and password in PINGAN_MQTT_URL / mqtt.url, and mqtt.client_id)")
                log.error("%s", self.fatal)
                client.disconnect()
                return
            log.warning("broker refused the connection: %s; retrying", name)
            return
        with self._lock:
            self.generation += 1
        log.info("connected to %s:%s as %s (session present: %s)", self.address.host, self.address.port,
                 self.settings.client_id, flags.session_present)
        if self.v5:
            opts = SubscribeOptions(qos=1)
            topics = [(f"$share/{self.settings.share_group}/{t}", opts) for t in TOPICS]
        else:
            topics = [(t, 1) for t in TOPICS]
        client.subscribe(topics)
        self.connected.set()
        metrics.MQTT_CONNECTED.set(1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        bad = [str(r) for r in reason_codes if r.is_failure]
        if bad:
            log.error("subscription refused by the broker: %s (check the ACL for %s)", bad, self.settings.client_id)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        with self._lock:
            self.generation += 1  # acks for what arrived before are no longer valid
        self.connected.clear()
        metrics.MQTT_CONNECTED.set(0)
        if self._closing:
            log.info("disconnected from broker")
        elif self.fatal is None:
            log.warning("disconnected from broker: %s; paho reconnects with back-off", reason)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "(topic is not UTF-8)"
        m = Message(topic, msg.payload, time.time(), bool(msg.dup))
        self.received += 1
        # Receive Maximum should keep the inbox small, but brokers overshoot it (Mosquitto 2.0.x
        # under load) and 3.1.1 has none: a full inbox holds this thread, and TCP back-pressure
        # then bounds memory. Nothing is acked meanwhile, so nothing can be lost.
        while self.inbox.qsize() >= self.max_pending and not self._closing:
            time.sleep(0.005)
        self.inbox.put(Inbound(self.generation, msg.mid, m))

    # -- acks (ingest thread) ---------------------------------------------------------------
    def ack(self, items: list[tuple[int, int]]) -> int:
        """Ack (generation, mid) pairs in the order given; skip those from an old connection."""
        sent = 0
        gen = self.generation
        for g, mid in items:
            if g == gen and mid:
                self.client.ack(mid, 1)
                sent += 1
        self.acked += sent
        return sent
