"""Webhook delivery against real HTTP endpoints on loopback: the JSON body, its HMAC signature,
retries with back-off, and a slow endpoint that never delays another."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alerts.notify import WebhookNotifier
from alerts.settings import Webhook


class Endpoint:
    """An HTTP server recording what it is sent; it can be slow, or fail its first requests."""

    def __init__(self, delay_s: float = 0.0, fail_first: int = 0):
        self.got: list[tuple[float, dict, dict]] = []
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                if outer.attempts <= fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                time.sleep(delay_s)
                outer.got.append((time.monotonic(), dict(self.headers), json.loads(body)))
                outer.raw = body
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


ALERT = {"id": "a1", "type": "camera_offline", "subject": "cam07", "severity": "major", "state": "open"}


def test_signed_json_retried_and_a_slow_endpoint_delays_no_other():
    slow, flaky, plain = Endpoint(delay_s=3.0), Endpoint(fail_first=2), Endpoint()
    waits: list[float] = []
    hooks = [WebhookNotifier(Webhook(url=slow.url, timeout_s=10)),
             WebhookNotifier(Webhook(url=flaky.url, secret_env="HOOK_KEY", retries=3), environ={"HOOK_KEY": "s3cret"},
                             sleep=waits.append),
             WebhookNotifier(Webhook(url=plain.url, types=("camera_offline",)))]
    t0 = time.monotonic()
    for h in hooks:
        h.publish(ALERT)
        h.publish({**ALERT, "id": "a2", "type": "coverage_gap", "subject": "c1"})
    deadline = time.monotonic() + 10
    while (len(plain.got) < 1 or len(flaky.got) < 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    # the fast endpoints were served long before the slow one answered its first request
    assert plain.got[0][0] - t0 < 1.0 and flaky.got[0][0] - t0 < 1.0 and not slow.got
    # a type filter: only camera_offline went to the third endpoint
    assert [g[2]["id"] for g in plain.got] == ["a1"]
    # two failures (503), retried after 1 s and 2 s of back-off, then delivered, signed
    assert flaky.attempts == 4 and waits == [1.0, 2.0]
    headers, body = flaky.got[0][1], flaky.got[0][2]
    assert body == ALERT
    raw = json.dumps(ALERT, ensure_ascii=False).encode()
    assert headers["X-Pingan-Signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers["Content-Type"] == "application/json"
    for h in hooks:
        h.close()
    assert [g[2]["id"] for g in slow.got][:1] == ["a1"]
    for e in (slow, flaky, plain):
        e.close()


def test_an_endpoint_that_never_answers_is_given_up_on_with_a_log_line(caplog):
    dead = WebhookNotifier(Webhook(url="http://127.0.0.1:9/nothing", retries=2, timeout_s=1), sleep=lambda s: None)
    dead.publish(ALERT)
    deadline = time.monotonic() + 10
    while dead.failed == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    dead.close()
    assert dead.failed == 1 and dead.delivered == 0
    assert any("not delivered after 3 attempts" in r.getMessage() for r in caplog.records)
