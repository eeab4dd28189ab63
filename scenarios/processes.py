"""The cloud server and toy agents as real child processes on loopback, always cleaned up.

Each child runs in its own session (process group) so stopping it also stops whatever it
forked, such as gunicorn's workers; nothing is left running even when a scenario fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests

from scenarios.backend import Backend, database_backend
from scenarios.egress import observed
from scenarios.target import Target
from teddy.cloud_process import free_port, stop_process_group

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 8.0
# Beside the cloud's files in a scenario's folder: the egress observer's records, which are the
# testbed's and hold what the programs sent (never scanned as the cloud's own files).
EGRESS_DIR = "egress"


class ProcessError(RuntimeError):
    """A child process failed to start, died, or did not answer in time."""


class ToyRefused(ProcessError):
    """The toy answered a command with `"ok": false`."""


class HarnessError(ProcessError):
    """The testbed could not run what it was asked to test: a toy or cloud command that does
    not exist, exits before it is up, or never answers. Reported as ERROR, never as a privacy
    failure, since nothing about the rules was observed."""


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    # The child must import this checkout even when the package is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _last_line(path: Path) -> str:
    lines = _log_tail(path).strip().splitlines()
    return lines[-1] if lines else f"(nothing in {path.name})"


def _log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class CloudServer:
    """`teddy cloud serve` (or a broken variant of it) on a fixed loopback port.

    The port stays the same across restarts so the relay in front of it keeps working.
    """

    def __init__(self, workdir: Path, *, module: str = "teddy", env: dict[str, str] | None = None,
                 tls: bool = False, workers: int = 2, config_file: Path | None = None,
                 target: Target | None = None, database: str | None = None) -> None:
        self.workdir = workdir
        # A black-box cloud: someone else's server, started from the target's command.
        self.target = target if target is not None and target.cloud_command else None
        # Where the cloud keeps its data, as its `--db` takes it: a SQLite file in the
        # scenario's folder (the default) or a postgresql:// URL.
        self.db_path = workdir / "cloud.db"
        self.database = database if database is not None else str(self.db_path)
        self.backend: Backend = database_backend(self.database)
        self.clock_file = workdir / "clock-offset"
        self.backup_dir = workdir / "backups"
        self.log_path = workdir / "cloud.log"
        self.module = module
        self.env = dict(env or {})
        self.tls = tls
        self.workers = workers
        self.config_file = config_file
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        # The egress observer's record of every process the cloud starts (scenarios/egress.py).
        self.trace_file = workdir / EGRESS_DIR / "cloud.trace"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def tls_dir(self) -> Path:
        return self.workdir / "tls"

    @property
    def ca_file(self) -> Path | None:
        return self.tls_dir / "ca.pem" if self.tls else None

    def cli_command(self, *args: str) -> list[str]:
        """A `teddy cloud ...` command run the same way as this server (variant included)."""
        prefix = ["-m", "teddy", "cloud"] if self.module == "teddy" else ["-m", self.module]
        return [sys.executable, *prefix, *args]

    def start(self, timeout_s: float = 30.0) -> CloudServer:
        if self.process is not None and self.process.poll() is None:
            raise ProcessError("the cloud is already running")
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        if self.target is not None:
            command = self.target.cloud_argv(host=self.host, port=self.port,
                                             workdir=str(self.workdir))
        else:
            command = self._serve_command()
        command = observed(command, self.trace_file)
        env = _child_env({"TEDDY_BACKUP_DIR": str(self.backup_dir), **self.env})
        with self.log_path.open("ab") as log:
            try:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                start_new_session=True, env=env,
                                                cwd=self.target.cwd if self.target
                                                else self.workdir)
            except OSError as exc:
                raise HarnessError(f"the cloud command could not start: {command[0]}: "
                                   f"{exc.strerror or exc}") from exc
        self.starts += 1
        self._wait_healthy(timeout_s)
        return self

    def mail_reader(self) -> Callable[[str], str] | None:
        """For a black-box cloud, how its parents read their e-mail (None: from the database)."""
        target = self.target
        if target is None or target.cloud_command is None:
            return None
        if target.mail_command is None:
            raise ProcessError("this cloud sends sign-up links by e-mail: give "
                               "--cloud-mail-command to read them")

        def read(to: str) -> str:
            argv = target.mail_argv(to=to, workdir=str(self.workdir))
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                  cwd=target.cwd, stdin=subprocess.DEVNULL)
            return done.stdout

        return read

    def _serve_command(self) -> list[str]:
        command = self.cli_command("serve", "--db", self.database, "--host", self.host,
                                   "--port", str(self.port), "--clock-file",
                                   str(self.clock_file), "--workers", str(self.workers))
        if self.tls:
            command += ["--tls", "--tls-dir", str(self.tls_dir)]
        if self.config_file is not None:
            command += ["--config", str(self.config_file)]
        return command

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        verify: str | bool = False
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise HarnessError(f"the cloud exited with {self.process.returncode} before "
                                   "it was up: " + _last_line(self.log_path))
            if self.tls and self.ca_file and self.ca_file.exists():
                verify = str(self.ca_file)
            with contextlib.suppress(requests.RequestException):
                # /healthz is Teddy's; any cloud serving the documented API has the other.
                for path in ("/healthz", "/api/openapi.json"):
                    if requests.get(self.url + path, timeout=1, verify=verify).ok:
                        return
            time.sleep(0.05)
        self.stop()
        raise HarnessError(f"the cloud was not up within {timeout_s:.0f} s: "
                           + _last_line(self.log_path))

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, STOP_GRACE_S)

    def kill(self) -> None:
        """kill -9 the whole server, workers included, mid-whatever it was doing."""
        if self.process is None or self.process.poll() is not None:
            raise ProcessError("the cloud is not running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def set_clock_offset(self, seconds: float) -> None:
        temporary = self.clock_file.with_suffix(".tmp")
        temporary.write_text(repr(float(seconds)), "utf-8")
        os.replace(temporary, self.clock_file)

    def clock_offset(self) -> float:
        if not self.clock_file.exists():
            return 0.0
        text = self.clock_file.read_text("utf-8").strip()
        return float(text) if text else 0.0

    def run_cli(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a one-off `teddy cloud` command (purge, verify-erasure...) against this cloud."""
        env = _child_env({"TEDDY_BACKUP_DIR": str(self.backup_dir), **self.env})
        return subprocess.run(self.cli_command(*args), capture_output=True, text=True,
                              timeout=timeout_s, env=env, cwd=self.workdir, check=False)

    def __enter__(self) -> CloudServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class ToyProcess:
    """A toy agent process spoken to in JSON lines over its stdin and stdout."""

    def __init__(self, state_dir: Path, cloud_url: str, *, module: str = "scenarios.toy_agent",
                 clock_file: Path | None = None, ca_file: Path | None = None,
                 log_path: Path | None = None, env: dict[str, str] | None = None,
                 argv: list[str] | None = None, cwd: str | None = None,
                 trace_file: Path | None = None) -> None:
        self.state_dir = state_dir
        self.trace_file = trace_file
        # Someone else's toy: its own command line, speaking the same protocol.
        self.argv = argv
        self.cwd = cwd
        self.env = dict(env or {})
        self.cloud_url = cloud_url
        self.module = module
        self.clock_file = clock_file
        self.ca_file = ca_file
        self.log_path = log_path or state_dir.parent / f"{state_dir.name}.log"
        self.process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self) -> ToyProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        command = [sys.executable, "-m", self.module, "--state", str(self.state_dir),
                   "--cloud", self.cloud_url]
        if self.clock_file is not None:
            command += ["--clock-file", str(self.clock_file)]
        if self.ca_file is not None:
            command += ["--ca-file", str(self.ca_file)]
        if self.argv is not None:
            command = self.argv
        command = observed(command, self.trace_file)
        with self.log_path.open("ab") as log:
            try:
                self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=log, text=True,
                                                bufsize=1, start_new_session=True,
                                                env=_child_env(self.env),
                                                cwd=self.cwd or self.state_dir.parent)
            except OSError as exc:
                raise HarnessError(f"the toy command could not start: {command[0]}: "
                                   f"{exc.strerror or exc}") from exc
        assert self.process.stdout is not None
        threading.Thread(target=self._read_lines, args=(self.process.stdout,),
                         daemon=True).start()
        return self

    def _read_lines(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def first_call(self, command: str, timeout_s: float = 60.0, **args: Any) -> dict[str, Any]:
        """The toy's first command: a toy that dies or garbles its answer here never started,
        which is a harness error, not a privacy failure."""
        try:
            return self.call(command, timeout_s, **args)
        except ToyRefused:
            raise
        except (ProcessError, ValueError) as exc:
            raise HarnessError(f"the toy did not start: {str(exc).splitlines()[0]} "
                               f"{_last_line(self.log_path)}") from exc

    def call(self, command: str, timeout_s: float = 60.0, **args: Any) -> dict[str, Any]:
        """Send one command and wait for its one-line answer."""
        if self.process is None or self.process.poll() is not None or not self.process.stdin:
            raise ProcessError(f"the toy agent is not running; see {self.log_path}:\n"
                               + _log_tail(self.log_path))
        self.process.stdin.write(json.dumps({"command": command, **args}) + "\n")
        self.process.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise ProcessError(f"the toy did not answer {command!r} within {timeout_s:.0f} s"
                               ) from None
        if line is None:
            raise ProcessError(f"the toy agent exited during {command!r}:\n"
                               + _log_tail(self.log_path))
        answer = json.loads(line)
        if not answer.get("ok"):
            raise ToyRefused(f"the toy refused {command!r}: {answer.get('error')}")
        return answer

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None and self.process.stdin:
            with contextlib.suppress(OSError, ValueError):
                self.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)
        stop_process_group(self.process, STOP_GRACE_S)

    def __enter__(self) -> ToyProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
