"""Delivery: one small interface (``publish``, ``close``) and three notifiers behind it —
MQTT (``pingan/v1/alerts/{type}/{subject}``, JSON, QoS 1), the Redis stream ``pingan:alerts``
(which the API's WebSocket reads), and webhooks (JSON, HMAC-SHA256 signature header, retries
with back-off, each endpoint on a thread of its own so that a slow one never delays the others).

The ``Dispatcher`` routes what the lifecycle changed, less what ``alerts.mute`` held back, to
every notifier; camera alerts of one street that open within
``group_window_s`` of each other go out as one grouped notification listing its members — a
power cut taking down 40 cameras is one message, not 40.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from .lifecycle import Action, Change
from .settings import Webhook
from .types import SUBJECT_KIND

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def publish(self, message: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def topic_of(message: Mapping[str, Any]) -> str:
    return f"pingan/v1/alerts/{message['type']}/{message['subject']}"


class MqttNotifier:
    """Publishes each message with QoS 1 on its own paho client (one network loop)."""

    def __init__(self, host: str, port: int, username: str | None = None, password: str | None = None,
                 client_id: str = "pingan-alerts", timeout_s: float = 5.0):
        import paho.mqtt.client as mqtt

        self.timeout_s = timeout_s
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.2, 5)
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def publish(self, message: Mapping[str, Any]) -> None:
        info = self.client.publish(topic_of(message), json.dumps(message, ensure_ascii=False), qos=1)
        if info.rc != 0:
            log.warning("alert not published to MQTT (rc %s): %s", info.rc, topic_of(message))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class StreamNotifier:
    """Appends each message to the Redis stream the API's WebSocket reads (capped)."""

    def __init__(self, client, stream: str, maxlen: int = 100_000):
        self.client, self.stream, self.maxlen = client, stream, maxlen

    def publish(self, message: Mapping[str, Any]) -> None:
        try:
            self.client.xadd(self.stream, {"alert": json.dumps(message, ensure_ascii=False)}, maxlen=self.maxlen,
                             approximate=True)
        except Exception as e:  # Redis down: the alert is in the database; the stream is a convenience
            log.warning("alert not appended to %s: %s", self.stream, e)

    def close(self) -> None:
        pass


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs JSON to one endpoint from a thread of its own, retrying with exponential back-off."""

    def __init__(self, hook: Webhook, environ: Mapping[str, str] = os.environ, sleep: Callable[[float], Any] | None = None):
        self.hook = hook
        secret = environ.get(hook.secret_env) if hook.secret_env else None
        self.secret = secret.encode() if secret else None
        self.queue: queue.Queue = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self.delivered = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=f"webhook {hook.url}", daemon=True)
        self._thread.start()

    def publish(self, message: Mapping[str, Any]) -> None:
        if self.hook.types and message.get("type") not in self.hook.types:
            return
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.failed += 1
            log.error("webhook %s: queue full, alert %s not delivered", self.hook.url, message.get("id"))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._deliver(message)

    def _deliver(self, message: Mapping[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "pingan-alerts"}
        if self.secret:
            headers["X-Pingan-Signature"] = signature(self.secret, body)
        for attempt in range(self.hook.retries + 1):
            try:
                req = urllib.request.Request(self.hook.url, body, headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.hook.timeout_s) as resp:
                    if 200 <= resp.status < 300:
                        self.delivered += 1
                        return
            except (urllib.error.URLError, OSError) as e:
                if attempt == self.hook.retries:
                    self.failed += 1
                    log.error("webhook %s: alert %s not delivered after %d attempts: %s", self.hook.url,
                              message.get("id"), attempt + 1, e)
                    return
            if self._stop.is_set():
                return
            self._sleep(min(2.0 ** attempt, 60.0))

    def close(self) -> None:
        deadline = time.monotonic() + 5
        while not self.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(5)


@dataclass
class _Group:
    by: dict[str, str]  # what its members share (alerts.group_by)
    first: float
    changes: list[Change] = field(default_factory=list)


class Dispatcher:
    """Routes lifecycle changes to the notifiers; groups the camera alerts that open together and
    share what ``group_by`` names (default: their type and street)."""

    def __init__(self, notifiers: Sequence[Notifier], group_window_s: float = 20.0, clock=time.monotonic,
                 group_by: Sequence[str] = ("type", "street")):
        self.notifiers = list(notifiers)
        self.group_window_s = group_window_s
        self.group_by = tuple(group_by)
        self.clock = clock
        self._groups: dict[tuple, _Group] = {}
        self.sent: list[dict[str, Any]] = []  # the last messages (for status lines and tests)

    def dispatch(self, changes: Sequence[Change]) -> None:
        for c in changes:
            by = self._group_of(c)
            if by is not None:
                g = self._groups.setdefault(tuple(by.values()), _Group(by, self.clock()))
                g.changes.append(c)
                continue
            self._send(message(c))
        self.flush()

    def _group_of(self, c: Change) -> dict[str, str] | None:
        """What a camera alert's opening shares with others of its group; None: sent alone."""
        if (c.action is not Action.OPEN or self.group_window_s <= 0 or not self.group_by
                or SUBJECT_KIND[c.alert.type] != "camera"):
            return None
        by = {k: str(c.alert.type) if k == "type" else c.alert.scope.get(k) for k in self.group_by}
        return by if all(by.values()) else None

    def flush(self, force: bool = False) -> None:
        now = self.clock()
        for key, g in list(self._groups.items()):
            if force or now - g.first >= self.group_window_s:
                del self._groups[key]
                if len(g.changes) == 1:
                    self._send(message(g.changes[0]))
                else:
                    self._send(group_message(g.by, g.changes))

    def _send(self, msg: dict[str, Any]) -> None:
        self.sent = (self.sent + [msg])[-1000:]
        for n in self.notifiers:
            try:
                n.publish(msg)
            except Exception:  # one notifier failing never stops the others
                log.exception("notifier %s failed on alert %s", type(n).__name__, msg.get("id"))

    def close(self) -> None:
        self.flush(force=True)
        for n in self.notifiers:
            n.close()


def message(c: Change) -> dict[str, Any]:
    return {**c.alert.to_json(), "event": str(c.action), "at": c.at}


def group_message(by: Mapping[str, str], changes: Sequence[Change]) -> dict[str, Any]:
    """One notification for a group: its subject the area its members share (the city where none)."""
    first = changes[0].alert
    members = [message(c) for c in changes]
    area = next((by[k] for k in ("street", "district") if k in by), "city")
    return {"id": f"group:{first.alert_id}", "type": str(first.type), "subject": area, "subject_kind": "area",
            "severity": min((c.alert.severity for c in changes), key=lambda s: s.rank).value, "state": "open",
            "event": "open", "at": changes[-1].at, "group": {**by, "count": len(members)}, "members": members}
