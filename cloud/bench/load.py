"""Drive a server with many toys at once: one process per toy, each request timed."""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier

from cloud.bench.toys import PreparedRequest

CONNECTION_FAILED = 0


@dataclass(frozen=True)
class ToyRun:
    started: float
    finished: float
    latencies_s: list[float]
    failures: dict[int, int]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    elapsed_s: float
    latencies_s: list[float]
    failures: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies_s)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


def _exchange(port: int, request: bytes) -> int:
    """Send one request on a fresh connection and return the status (0: connection failed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            response = bytearray()
            while chunk := sock.recv(65536):
                response += chunk
    except OSError:
        return CONNECTION_FAILED
    status_line = bytes(response[:response.find(b"\r\n")]).split()
    return int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0


def _run_toy(port: int, requests: list[PreparedRequest], start: Barrier,
             results: mp.Queue) -> None:  # type: ignore[type-arg]
    # Raw sockets and pre-built bytes keep the generator's own CPU use far below the server's
    # on this 2-core machine; gunicorn's sync workers close every connection anyway.
    wire = [prepared.wire_bytes("127.0.0.1", port) for prepared in requests]
    latencies: list[float] = []
    failures: dict[int, int] = {}
    start.wait()
    started = time.perf_counter()
    for request in wire:
        t0 = time.perf_counter()
        status = _exchange(port, request)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            failures[status] = failures.get(status, 0) + 1
    finished = time.perf_counter()
    results.put(ToyRun(started, finished, latencies, failures))


def drive(port: int, per_toy: list[list[PreparedRequest]]) -> LoadResult:
    """Send every toy's requests concurrently; throughput is over the whole wall-clock span."""
    ctx = mp.get_context("fork")
    start = ctx.Barrier(len(per_toy))
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    workers = [ctx.Process(target=_run_toy, args=(port, requests, start, results))
               for requests in per_toy]
    for worker in workers:
        worker.start()
    runs = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = [lat for run in runs for lat in run.latencies_s]
    failures: dict[int, int] = {}
    for run in runs:
        for status, n in run.failures.items():
            failures[status] = failures.get(status, 0) + n
    elapsed = max(r.finished for r in runs) - min(r.started for r in runs)
    return LoadResult(len(latencies), elapsed, latencies, failures)
