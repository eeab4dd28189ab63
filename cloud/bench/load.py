"""Drive a server with many toys at once: one process per toy, each request timed."""

from __future__ import annotations

import http.client
import multiprocessing as mp
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


def _run_toy(port: int, requests: list[PreparedRequest], start: Barrier,
             results: mp.Queue) -> None:  # type: ignore[type-arg]
    # gunicorn's sync workers close each connection; http.client reconnects on its own.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    failures: dict[int, int] = {}
    start.wait()
    started = time.perf_counter()
    for prepared in requests:
        t0 = time.perf_counter()
        try:
            conn.request("POST", prepared.path, prepared.body, prepared.headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            status = CONNECTION_FAILED
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            failures[status] = failures.get(status, 0) + 1
    finished = time.perf_counter()
    conn.close()
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
