"""Start the real cloud server as a child process on loopback and always clean it up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def stop_process_group(process: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """SIGTERM the child's whole process group (gunicorn workers too), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class CloudProcess:
    """`teddy cloud serve` in its own process group, so stopping it leaves nothing behind."""

    def __init__(self, db_path: str | Path, *, port: int | None = None,
                 clock_file: str | Path | None = None, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, log_path: str | Path | None = None) -> None:
        self.db_path = str(db_path)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.clock_file = str(clock_file) if clock_file else None
        self.extra_args = extra_args or []
        self.env = env
        self.log_path = Path(log_path) if log_path else Path(f"{self.db_path}.server.log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> CloudProcess:
        if self.running:
            # A second start would orphan the first server, still holding its port.
            raise RuntimeError(f"the cloud server on port {self.port} is already running")
        command = [sys.executable, "-m", "teddy", "cloud", "serve", "--db", self.db_path,
                   "--host", self.host, "--port", str(self.port), *self.extra_args]
        if self.clock_file:
            command += ["--clock-file", self.clock_file]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        env={**os.environ, **(self.env or {})})
        log.close()
        self._wait_healthy(timeout_s)
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"cloud server exited early; see {self.log_path}:\n"
                                   + self.log_path.read_text(errors="replace")[-2000:])
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"cloud server did not become healthy in {timeout_s:.0f} s")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)

    def __enter__(self) -> CloudProcess:
        # Started already (with its own timeout) or started now: stopped on the way out.
        return self if self.running else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
