"""Helpers of the service tests: fresh PostgreSQL databases and real server processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg

PARAMETERS = [
    {"type": "categorical", "name": "mode", "val": "b", "categories": ["a", "b", "c"]},
    {"type": "integer", "name": "workers", "val": 8, "min": 1, "max": 64},
    {"type": "real", "name": "ratio", "val": 0.5, "min": 0.0, "max": 1.0},
]
NUMERICAL = [{"type": "real", "name": "x", "val": 0.5, "min": 0.0, "max": 1.0}]


def create_database(dsn: str) -> tuple[str, str]:
    """A fresh database on the cluster of ``dsn``: its name and SQLAlchemy URL."""
    name = f"oppertune_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def drop_database(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``oppertune serve`` as a real uvicorn subprocess on a loopback port."""

    def __init__(self, db: str, port: int | None = None, log: Path | None = None, **env: str) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
        command = [sys.executable, "-m", "oppertune.cli", "serve", "--db", self.db, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--log-level", "warning"], env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.process.returncode} (log: {self.log})")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout} s (log: {self.log})")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, connections dropped mid-request."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# A bluefin tuner with safety rails, as the API creates it.
GUARDED = {
    "name": "guarded",
    "parameters": NUMERICAL,
    "algorithm": "bluefin",
    "algorithm_args": {"random_seed": 1},
    "safety": {"baseline_rounds": 2, "margin": 0.5},
}
