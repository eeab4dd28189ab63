"""Start and stop the benchmark's gunicorn servers as child processes on loopback."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from teddy.cloud_process import free_port, stop_process_group


class BenchServer:
    """One target (`cloud` or `bare`) in its own process group, stopped whatever happens."""

    def __init__(self, target: str, db_path: Path | str, workers: int, log_path: Path,
                 worker_class: str | None = None,
                 tls_files: tuple[str, str] | None = None) -> None:
        self.target = target
        # (certificate, key): serve HTTPS; wait_ready() then only waits for the port to open.
        self.tls_files = tls_files
        self.worker_class = worker_class
        self.db_path = str(db_path)  # an SQLite file or a PostgreSQL URL
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> BenchServer:
        """Start the process without waiting, so several servers can boot side by side."""
        command = [sys.executable, "-m", "cloud.bench.launch", self.target, "--db",
                   self.db_path, "--port", str(self.port), "--workers", str(self.workers)]
        if self.worker_class:
            command += ["--worker-class", self.worker_class]
        if self.tls_files:
            command += ["--certfile", self.tls_files[0], "--keyfile", self.tls_files[1]]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.target} server exited; see {self.log_path}")
            if self.tls_files:
                with contextlib.suppress(OSError), socket.create_connection(
                        ("127.0.0.1", self.port), timeout=1):
                    return
                time.sleep(0.1)
                continue
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                healthy = conn.getresponse().status == 200
                conn.close()
                if healthy:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.target} server not ready after {timeout_s:.0f} s")

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None:
            stop_process_group(self.process)
