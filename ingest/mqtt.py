"""The broker side of a worker: one paho network loop, a bounded hand-off, in-order acks.

MQTT v5: a persistent session (clean_start=False + Session Expiry Interval), a Receive Maximum
that bounds how many unacknowledged messages the broker sends, and shared subscriptions so
workers split the load. MQTT 3.1.1 (the embedded broker): clean_session=False, plain
subscriptions, one worker.

The paho network loop runs in a process of its own (``MqttSource`` is its proxy in the worker
process). Paho is pure Python: sharing one interpreter lock with decoding, filtering and COPY
would halve what one worker can take in. Messages cross in chunks over a pipe; acks go back as
one list per committed batch and are sent by the network process in arrival order, only for
messages received on its current connection: after a reconnect the broker resends what was
not acked (DUP flag) and the store's unique keys make the second write a no-op.

If the worker process dies, the network process sees its pipe close and exits without acking,
so the broker keeps every unacknowledged message for the next worker.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from store.records import Message

from . import metrics
from .decode import topic_filters
from .settings import MqttSettings

log = logging.getLogger(__name__)


# CONNACK reasons after which retrying cannot help (v5 codes; paho maps 3.1.1 codes onto them).
_FATAL = {"Bad user name or password", "Not authorized", "Client identifier not valid",
          "Unsupported protocol version", "Banned"}

CHUNK = 256  # messages per hand-off to the worker process
CHUNK_WAIT_S = 0.002  # longest a message waits for its chunk


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


def broker_answers(address: "BrokerAddress", timeout_s: float = 3.0) -> None:
    """An MQTT CONNECT to the broker and its CONNACK (a throwaway clean session, then
    DISCONNECT): returns when the broker accepts; raises saying why not (refused, no answer)."""
    said: list[ReasonCode] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pingan-ready-{os.getpid()}-{threading.get_ident()}",
                    protocol=mqtt.MQTTv311, clean_session=True)
    if address.username:
        c.username_pw_set(address.username, address.password)
    if address.tls:
        c.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    c.on_connect = lambda client, userdata, flags, reason, properties: said.append(reason)
    try:
        c.connect(address.host, address.port, keepalive=max(5, int(timeout_s) + 1))
        end = time.monotonic() + timeout_s
        while not said and time.monotonic() < end:
            c.loop(timeout=0.1)
        if not said:
            raise TimeoutError(f"no CONNACK from {address.host}:{address.port} within {timeout_s:g} s")
        if said[0].is_failure:
            raise ConnectionRefusedError(f"the broker refused the connection: {said[0]}")
        c.disconnect()
    finally:
        sock = c.socket()
        if sock is not None:
            sock.close()


def _captured(msg: mqtt.MQTTMessage) -> float | None:
    """The MQTT v5 user property "ts" (epoch seconds), when a device sends one."""
    props = getattr(msg, "properties", None)
    for key, value in getattr(props, "UserProperty", None) or ():
        if key == "ts":
            try:
                ts = float(value)
            except ValueError:
                return None
            return ts if ts == ts and abs(ts) < 1e11 else None
    return None


# Frames from the network process: ("m", [(generation, mid, topic, payload, received, dup, captured), …]),
# ("connected", generation, session_present), ("subscribed", generation, granted), ("disconnected", reason),
# ("fatal", text).
# Frames to it: ("ack", [(generation, mid), …]), ("stop",).
_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder()


class MqttSource:
    """The worker process's handle on the network process."""

    def __init__(self, settings: MqttSettings, address: BrokerAddress, max_pending: int,
                 log_level: str = "INFO", log_format: str = "text",
                 log_setup: Callable[[str, str], None] | None = None):
        """max_pending: unacknowledged messages held at most (ingest.max_pending_messages)."""
        self.settings = settings
        self.address = address
        self.max_pending = max_pending
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.generation = 0
        self.connected = threading.Event()
        self.session_present = False  # the broker kept this worker's session from before
        self.connected_at = 0.0  # when the current connection was made (epoch seconds)
        self.subscribed_generation = -1  # the connection whose subscriptions the broker granted
        self.fatal: BaseException | None = None
        self.received = 0
        self.acked = 0
        # how the network process sets up its logging (a module-level function, passed by
        # reference to the spawned process): the composition root's, else the standard library's
        self._log = (log_setup, log_level, log_format)
        self._proc: mp.process.BaseProcess | None = None
        self._down: Connection | None = None
        self._reader: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        up_r, up_w = ctx.Pipe(duplex=False)
        down_r, down_w = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_network_main, name=f"mqtt-{self.settings.client_id}", daemon=True,
                                 args=(self.settings.model_dump(), self.address, self.max_pending, up_w, down_r,
                                       self._log))
        self._proc.start()
        up_w.close()
        down_r.close()
        self._down = down_w
        self._reader = threading.Thread(target=self._read, args=(up_r,), name="mqtt-reader", daemon=True)
        self._reader.start()

    def _read(self, up: Connection) -> None:
        put = self.inbox.put
        while True:
            try:
                frame = _dec.decode(up.recv_bytes())
            except (EOFError, OSError):
                if not self._stopping and self.fatal is None:
                    self.fatal = RuntimeError("the MQTT network process exited")
                    log.error("%s", self.fatal)
                self.connected.clear()
                metrics.MQTT_CONNECTED.set(0)
                return
            kind = frame[0]
            if kind == "m":
                for gen, mid, topic, payload, received, dup, captured in frame[1]:
                    put(Inbound(gen, mid, Message(topic, payload, received, dup, captured)))
                self.received += len(frame[1])
            elif kind == "connected":
                self.generation = frame[1]
                self.session_present = frame[2]
                self.connected_at = time.time()
                self.connected.set()
                metrics.MQTT_CONNECTED.set(1)
            elif kind == "subscribed":
                if frame[2]:
                    self.subscribed_generation = frame[1]
            elif kind == "disconnected":
                self.connected.clear()
                metrics.MQTT_CONNECTED.set(0)
            elif kind == "fatal":
                self.fatal = BrokerAuthError(frame[1])

    @property
    def receiving(self) -> bool:
        """Connected, with every subscription granted on this connection."""
        return self.connected.is_set() and self.subscribed_generation == self.generation

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.fatal:
                raise self.fatal
            if self.connected.wait(0.1):
                return True
        return False

    def ack(self, items: list[tuple[int, int]]) -> int:
        """Have the network process ack (generation, mid) pairs in the order given."""
        if items and self._down is not None:
            try:
                self._down.send_bytes(_enc.encode(("ack", items)))
            except OSError:
                return 0  # the network process is gone: nothing acked, the broker redelivers
            self.acked += len(items)
        return len(items)

    def stop(self) -> None:
        self._stopping = True
        if self._down is not None:
            try:
                self._down.send_bytes(_enc.encode(("stop",)))
            except OSError:
                pass
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        if self._reader is not None:
            self._reader.join(5)
        if self._down is not None:
            self._down.close()
            self._down = None


def _network_main(settings: dict[str, Any], address: BrokerAddress, max_pending: int, up: Connection,
                  down: Connection, log: tuple) -> None:
    setup, level, fmt = log
    if setup is not None:
        setup(level, fmt)
    else:
        logging.basicConfig(level=level)
    net = _Network(MqttSettings.model_validate(settings), address, max_pending, up)
    net.start()
    try:
        while True:
            try:
                frame = _dec.decode(down.recv_bytes())
            except (EOFError, OSError):
                os._exit(0)  # the worker is gone: exit without acking anything more
            if frame[0] == "ack":
                net.ack(frame[1])
            elif frame[0] == "stop":
                break
    finally:
        net.stop()


class _Network:
    """The paho client, in the network process."""

    def __init__(self, settings: MqttSettings, address: BrokerAddress, max_pending: int, up: Connection):
        self.settings = settings
        self.address = address
        self.max_pending = max_pending
        self.up = up
        self.v5 = settings.protocol == "5"
        self.generation = 0
        self.outstanding = 0  # handed over to the worker and not yet released by it, whatever the connection
        self.fatal = False
        self._closing = False
        self._lock = threading.Lock()  # the pipe and the chunk buffer
        self._chunk: list[tuple] = []
        self._chunk_since = 0.0
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
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-chunks", daemon=True)

    def start(self) -> None:
        kwargs = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.session_expiry_s
            props.ReceiveMaximum = self.settings.receive_maximum
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect_async(self.address.host, self.address.port, self.settings.keepalive_s, **kwargs)
        self.client.loop_start()
        self._flusher.start()

    def stop(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    def _send(self, frame: tuple) -> None:
        data = _enc.encode(frame)
        with self._lock:
            self.up.send_bytes(data)

    # -- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason: ReasonCode, properties) -> None:
        if reason.is_failure:
            name = str(reason)
            if name in _FATAL:
                text = (f"broker {self.address.host}:{self.address.port} refused the connection: {name} "
                        f"(check the user and password in PINGAN_MQTT_URL / mqtt.url, and mqtt.client_id)")
                log.error("%s", text)
                self.fatal = True
                self._send(("fatal", text))
                client.disconnect()
                return
            log.warning("broker refused the connection: %s; retrying", name)
            return
        self._flush()
        with self._lock:
            # the broker resends whatever was not acked; what the worker still holds from the
            # connection before keeps counting until the worker releases it (pending stays bounded)
            self.generation += 1
        log.info("connected to %s:%s as %s (session present: %s)", self.address.host, self.address.port,
                 self.settings.client_id, flags.session_present)
        # every connect subscribes again, session present or not: a broker restored from its
        # persistence keeps the session but may have lost a shared subscription
        filters = topic_filters(self.settings.frigate)
        if self.v5:
            opts = SubscribeOptions(qos=1)
            group = self.settings.share_group
            topics = [(f"$share/{group}/{t}" if group else t, opts) for t in filters]
        else:
            topics = [(t, 1) for t in filters]
        client.subscribe(topics)
        self._send(("connected", self.generation, bool(flags.session_present)))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        bad = [str(r) for r in reason_codes if r.is_failure]
        if bad:
            log.error("subscription refused by the broker: %s (check the ACL for %s)", bad, self.settings.client_id)
        self._send(("subscribed", self.generation, not bad))

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if self._closing:
            log.info("disconnected from broker")
        elif not self.fatal:
            log.warning("disconnected from broker: %s; paho reconnects with back-off", reason)
        self._send(("disconnected", str(reason)))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "(topic is not UTF-8)"
        # Receive Maximum should bound this, but brokers overshoot it (Mosquitto 2.0.x under
        # load) and 3.1.1 has none: past the limit this thread stops reading the socket, and
        # TCP back-pressure bounds memory. Nothing is acked meanwhile, so nothing can be lost.
        while self.outstanding >= self.max_pending and not self._closing:
            time.sleep(0.005)
        captured = _captured(msg)
        with self._lock:
            if not self._chunk:
                self._chunk_since = time.monotonic()
            self._chunk.append((self.generation, msg.mid, topic, msg.payload, time.time(), bool(msg.dup), captured))
            self.outstanding += 1
            full = len(self._chunk) >= CHUNK
        if full:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            if not self._chunk:
                return
            chunk, self._chunk = self._chunk, []
            self.up.send_bytes(_enc.encode(("m", chunk)))

    def _flush_loop(self) -> None:
        while not self._closing:
            time.sleep(CHUNK_WAIT_S)
            if self._chunk and time.monotonic() - self._chunk_since >= CHUNK_WAIT_S:
                try:
                    self._flush()
                except OSError:
                    os._exit(0)  # the worker is gone

    # -- acks (from the worker) -------------------------------------------------------------
    def ack(self, items: list[tuple[int, int]]) -> None:
        """Ack the current connection's messages (in order); those of an earlier connection are
        only released: the broker sends them again on this one."""
        gen = self.generation
        for g, mid in items:
            if g == gen and mid:  # QoS 0 deliveries have no packet id and need no ack
                self.client.ack(mid, 1)
        if items:
            with self._lock:
                self.outstanding = max(0, self.outstanding - len(items))
