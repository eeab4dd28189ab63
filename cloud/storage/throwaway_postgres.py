"""A private PostgreSQL server in a temporary folder, for tests, benchmarks and scenarios.

It listens on a Unix socket only (never on a network address), runs as the `postgres` user
when started by root (the server refuses to run as root), and is removed when stopped. It
uses the Debian `postgresql` package's programs; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SERVER_USER = "postgres"
START_TIMEOUT_S = 30


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server programs are not installed here."""


def server_bin_dir() -> Path:
    """The newest installed server's programs (initdb, pg_ctl, postgres)."""
    override = os.environ.get("TEDDY_PG_BIN")
    candidates = [override] if override else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
        if Path(p).parent.name.isdigit() else 0)
    for candidate in reversed(candidates):
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        "PostgreSQL's server is not installed (Debian: apt-get install postgresql); "
        "set TEDDY_PG_BIN to its bin folder if it lives elsewhere")


@dataclass
class ThrowawayPostgres:
    """Start with `start()`, get database URLs with `create_database()`, end with `stop()`."""

    fsync: bool = False
    root: Path = field(init=False)
    _started: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.bin = server_bin_dir()
        # /tmp itself, not a pytest folder: the server's user must be able to reach it, and a
        # socket path must stay under about 100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="teddy-pg-", dir="/tmp"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root

    @property
    def _as_server_user(self) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []

    @property
    def superuser(self) -> str:
        return SERVER_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as_server_user, *args], capture_output=True, text=True,
                                timeout=START_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-800:]}")

    def start(self) -> ThrowawayPostgres:
        if os.geteuid() == 0:
            shutil.chown(self.root, SERVER_USER, SERVER_USER)
        self._run(str(self.bin / "initdb"), "-D", str(self.data_dir), "-A", "trust",
                  "-U", self.superuser, "-E", "UTF8", "--no-sync", "--locale=C")
        self._start_server()
        return self

    def _start_server(self) -> None:
        options = (f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} "
                   f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
                  "-l", str(self.root / "server.log"), "-w", "-t", str(START_TIMEOUT_S),
                  "start")
        self._started = True

    def crash_and_restart(self) -> None:
        """Stop the server as a crash would (`-m immediate`: no checkpoint, connections cut,
        recovery from the WAL on start), then start it again on the same data."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                  "-w", "stop")
        self._started = False
        self._start_server()

    def url(self, database: str = "postgres") -> str:
        return (f"postgresql:///{quote(database)}?host={quote(str(self.socket_dir))}"
                f"&user={quote(self.superuser)}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [str(self.bin / "psql") if (self.bin / "psql").is_file() else "psql",
             "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
             "-U", self.superuser, "-d", database, "-c", sql],
            capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database names here are letters, digits and _: {name!r}")
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._started:
            with contextlib.suppress(Exception):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                          "-w", "stop")
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
