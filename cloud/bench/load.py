"""Drive a server with many toys at once through wrk, a load generator written in C.

Each toy is one wrk thread with one connection, replaying its own pre-signed requests. A
generator in Python spent as much CPU per request as the server on this 2-core machine, so
it measured itself as much as the server; wrk's event loop costs a few microseconds.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cloud.bench.toys import PreparedRequest

WRK = "wrk"
RESULT_PREFIX = "RESULT "
# wrk gives up on a request after this long and counts it as a timeout.
REQUEST_TIMEOUT_S = 10
# replay.lua reads the app servers' ports from here and spreads the toys over them.
PORTS_VARIABLE = "TEDDY_BENCH_PORTS"


class LoadGeneratorError(RuntimeError):
    """wrk is missing, failed, or a toy ran out of pre-signed requests."""


class RanOutOfRequests(LoadGeneratorError):
    """The server answered faster than planned: a round needs more pre-signed requests.

    observed_rps is what the round measured, health checks after running out included, so a
    plan made from it errs on the side of too many requests.
    """

    def __init__(self, message: str, observed_rps: float) -> None:
        super().__init__(message)
        self.observed_rps = observed_rps


@dataclass(frozen=True)
class LoadResult:
    requests: int
    elapsed_s: float
    # Latency histogram: microseconds -> how many requests took that long.
    latency_us: dict[int, int]
    failures: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile: the smallest latency at or below which p% of requests fell."""
        total = sum(self.latency_us.values())
        rank = max(1, math.ceil(p / 100 * total))
        seen = 0
        for micros in sorted(self.latency_us):
            seen += self.latency_us[micros]
            if seen >= rank:
                return micros / 1000
        raise ValueError("no latencies recorded")

    def merged(self, other: LoadResult) -> LoadResult:
        histogram = dict(self.latency_us)
        for micros, n in other.latency_us.items():
            histogram[micros] = histogram.get(micros, 0) + n
        failures = dict(self.failures)
        for status, n in other.failures.items():
            failures[status] = failures.get(status, 0) + n
        return LoadResult(self.requests + other.requests, self.elapsed_s + other.elapsed_s,
                          histogram, failures)


def require_wrk() -> str:
    path = shutil.which(WRK)
    if path is None:
        raise LoadGeneratorError(
            "wrk is not installed; on Debian or Ubuntu: sudo apt-get install wrk")
    return path


def server_port_of_toy(ports: Sequence[int], toy: int) -> int:
    """The server toy number `toy` talks to: the same rule replay.lua applies."""
    return ports[toy % len(ports)]


def _write_requests(directory: Path, ports: Sequence[int],
                    per_toy: list[list[PreparedRequest]]) -> None:
    for toy, requests in enumerate(per_toy):
        port = server_port_of_toy(ports, toy)
        with (directory / f"toy-{toy}.req").open("wb") as out:
            for prepared in requests:
                wire = prepared.wire_bytes("127.0.0.1", port)
                out.write(b"%d\n" % len(wire) + wire)


def _parse(output: str) -> LoadResult:
    line = next((ln for ln in reversed(output.splitlines()) if ln.startswith(RESULT_PREFIX)),
                None)
    if line is None:
        raise LoadGeneratorError(f"wrk printed no result:\n{output}")
    raw = json.loads(line.removeprefix(RESULT_PREFIX))
    if raw["toys_ran_out"]:
        raise RanOutOfRequests(
            f"{raw['toys_ran_out']} toys ran out of pre-signed requests; the server is faster "
            f"than the bench planned for (answers by status: {raw['statuses']})",
            raw["requests"] / max(raw["duration_us"] / 1e6, 1e-6))
    failures = {int(status): n for status, n in raw["statuses"].items() if int(status) != 200}
    if raw["socket_errors"]:
        failures[0] = raw["socket_errors"]
    histogram = {int(micros): int(n) for micros, n in raw["latency_us"]}
    return LoadResult(raw["requests"], raw["duration_us"] / 1e6, histogram, failures)


def drive(ports: int | Sequence[int], per_toy: list[list[PreparedRequest]],
          seconds: int) -> LoadResult:
    """Every toy sends its requests in order, one at a time, for `seconds`. Given several
    ports (app servers sharing one database), toy n talks to server n mod len(ports): one wrk,
    one clock and one latency histogram for the whole fleet, and no proxy to measure."""
    wrk = require_wrk()
    ports = [ports] if isinstance(ports, int) else list(ports)
    if not ports:
        raise LoadGeneratorError("no server to drive")
    script = resources.files("cloud.bench").joinpath("replay.lua")
    with tempfile.TemporaryDirectory(prefix="teddy-load-") as directory, \
            resources.as_file(script) as script_path:
        _write_requests(Path(directory), ports, per_toy)
        toys = str(len(per_toy))
        command = [wrk, "-t", toys, "-c", toys, "-d", f"{seconds}s",
                   "--timeout", f"{REQUEST_TIMEOUT_S}s", "-s", str(script_path),
                   f"http://127.0.0.1:{ports[0]}/", "--", directory]
        env = {**os.environ, PORTS_VARIABLE: ",".join(map(str, ports))}
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   timeout=seconds + 60, env=env)
    if completed.returncode != 0:
        raise LoadGeneratorError(f"wrk failed ({completed.returncode}): {completed.stderr}")
    return _parse(completed.stdout)
