"""Real services the tests start for themselves: a Mosquitto with the product's configuration
(simulators.broker, shared with the benchmarks), a private PostgreSQL or Redis that a test may
stop and restart, and a PostgreSQL cluster with the TimescaleDB engine preloaded (built from
tests/timescale/ by tests/run.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import redis

from simulators.broker import Mosquitto, free_port, wait_port

__all__ = ["Mosquitto", "PrivatePostgres", "PrivateRedis", "TimescaleCluster", "free_port", "wait_port"]

ROOT = Path(__file__).resolve().parent.parent


class PrivatePostgres:
    """A PostgreSQL cluster of its own (Debian's binaries), so a test can take it away."""

    def __init__(self, preload: str = ""):
        """preload: shared_preload_libraries (e.g. "timescaledb")."""
        self.preload = preload
        # its own directory, outside pytest's private tmp (the server runs as the postgres user)
        self.root = Path(tempfile.mkdtemp(prefix="pingan-pg-"))
        self.root.chmod(0o755)
        self.dir = self.root / "pgdata"
        self.sock = self.root / "pgsock"
        self.port = free_port()
        self.bin = Path(_pg_bindir())

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> "PrivatePostgres":
        for d in (self.dir, self.sock):
            d.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(d, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir), "-U", "postgres", "--auth=trust", "--no-sync")
        return self

    def start(self) -> "PrivatePostgres":
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        if self.preload:
            # no background workers: their sessions would keep test databases from being cloned
            # from a template; the tests run jobs and refreshes themselves
            opts += (f" -c shared_preload_libraries={self.preload} -c timescaledb.telemetry_level=off"
                     " -c timescaledb.max_background_workers=0")
        self._run("pg_ctl", "-D", str(self.dir), "-w", "-l", str(self.dir / "server.log"), "-o", opts, "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir), "-w", "-m", "immediate", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def _pg_bindir() -> str:
    base = Path("/usr/lib/postgresql")
    versions = sorted((p for p in base.iterdir() if (p / "bin" / "initdb").exists()), key=lambda p: int(p.name))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return str(versions[-1] / "bin")


class PrivateRedis:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def timescale_installed() -> bool:
    """The TimescaleDB engine is installed into this machine's PostgreSQL (tests/timescale/build.sh)."""
    share = subprocess.run([str(Path(_pg_bindir()) / "pg_config"), "--sharedir"], capture_output=True, text=True)
    return share.returncode == 0 and (Path(share.stdout.strip()) / "extension" / "timescaledb.control").exists()


class TimescaleCluster(PrivatePostgres):
    """A PostgreSQL cluster of its own with the TimescaleDB library preloaded (the engine loads
    only that way), so the real engine runs the writer, migrations, policies and aggregates."""

    def __init__(self):
        if not timescale_installed():
            raise RuntimeError("TimescaleDB is not installed: run tests/timescale/build.sh (tests/run.sh does)")
        super().__init__(preload="timescaledb")

    def database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"
