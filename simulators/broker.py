"""A Mosquitto of one's own with the deployment's configuration (deploy/mosquitto/), on a free
loopback port: for simulations, the benchmarks and the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Mosquitto:
    """Mosquitto 2 with deploy/mosquitto/mosquitto.conf plus a loopback listener and a private
    persistence directory."""

    def __init__(self, workdir: Path, port: int | None = None, extra: str = "", anonymous: bool = True):
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.anonymous = anonymous
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Mosquitto":
        if not MOSQUITTO_CONF.exists():
            raise FileNotFoundError(f"{MOSQUITTO_CONF} not found: run from a checkout of the project")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.read_text() + f"\npersistence_location {self.workdir}/\n"
                        f"listener {self.port} 127.0.0.1\nallow_anonymous {str(self.anonymous).lower()}\n"
                        f"{self.extra}\n"
                        + ("user root\n" if os.geteuid() == 0 else ""))
        with open(self.workdir / "mosquitto.log", "ab") as log:  # (the broker holds its own copy)
            self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None
