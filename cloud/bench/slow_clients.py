"""`teddy bench slow-clients`: is the cloud still answering while slow clients hold sockets?

Half the slow clients trickle a request one byte at a time (a "slowloris"); the other half
connect and send nothing. Whenever the server closes one, it reconnects at once, so the pressure
never lets up. Meanwhile one ordinary client asks for the API description, a fresh connection
each time, and its latency is what this measures, against the same requests with no slow
clients. `--compare-sync` runs gunicorn's sync worker the same way, to show what it replaces.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cloud.bench.servers import BenchServer

PROBE_PATH = "/api/openapi.json"
# An ordinary client that waits longer than this counts as refused: a toy gives up after 3 s.
PROBE_TIMEOUT_S = 5.0
TRICKLE = b"POST /api/v1/intent HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000


class SlowClients:
    """`count` connections to 127.0.0.1:port that hold the server's attention and little else."""

    def __init__(self, port: int, count: int, interval_s: float = 0.5) -> None:
        self.port = port
        self.count = count
        self.interval_s = interval_s
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        # socket -> (trickles?, bytes sent so far)
        clients: dict[socket.socket, list[int]] = {}
        for n in range(self.count):
            sock = self._connect()
            clients[sock] = [n % 2, 0]
            selector.register(sock, selectors.EVENT_READ)
        while not self._stop.wait(self.interval_s):
            closed = [key.fileobj for key, _ in selector.select(0)]
            for sock, state in list(clients.items()):
                if sock in closed:
                    with contextlib.suppress(OSError):
                        if sock.recv(65536):
                            continue  # an answer to a request it never finished: ignore
                    selector.unregister(sock)
                    sock.close()
                    del clients[sock]
                    fresh = self._connect()
                    clients[fresh] = [state[0], 0]
                    selector.register(fresh, selectors.EVENT_READ)
                    self.reconnects += 1
                    continue
                trickles, sent = state
                if trickles and sent < len(TRICKLE):
                    with contextlib.suppress(OSError):
                        state[1] += sock.send(TRICKLE[sent:sent + 1])
        for sock in clients:
            sock.close()
        selector.close()

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass(frozen=True)
class Latencies:
    answered_ms: list[float]
    failed: int

    @property
    def count(self) -> int:
        return len(self.answered_ms) + self.failed

    def percentile(self, pct: float) -> float | None:
        if not self.answered_ms:
            return None
        ordered = sorted(self.answered_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]

    def describe(self) -> str:
        if not self.answered_ms:
            return f"{self.failed} of {self.count} requests failed, none answered"
        return (f"{len(self.answered_ms)} answered, p50 {statistics.median(self.answered_ms):.1f}"
                f" ms, p99 {self.percentile(99):.1f} ms, max {max(self.answered_ms):.1f} ms, "
                f"{self.failed} failed or over {PROBE_TIMEOUT_S:.0f} s")


def probe(port: int, seconds: float, pause_s: float = 0.05) -> Latencies:
    """Ordinary requests, one fresh connection each, for `seconds`."""
    answered: list[float] = []
    failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_S)
            conn.request("GET", PROBE_PATH)
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        if ok:
            answered.append((time.perf_counter() - started) * 1000)
        else:
            failed += 1
        time.sleep(pause_s)
    return Latencies(answered, failed)


@contextlib.contextmanager
def _server(directory: Path, worker_class: str | None, workers: int) -> Iterator[BenchServer]:
    name = worker_class.rsplit(".", 1)[-1] if worker_class else "default"
    with BenchServer("cloud", directory / f"slow-{name}.db", workers,
                     directory / f"slow-{name}.log", worker_class=worker_class) as server:
        server.spawn()
        server.wait_ready(timeout_s=30)
        yield server


def measure(directory: Path, *, worker_class: str | None, workers: int, slow: int,
            seconds: float) -> dict[str, object]:
    with _server(directory, worker_class, workers) as server:
        calm = probe(server.port, seconds)
        with SlowClients(server.port, slow) as pressure:
            time.sleep(1.0)  # let every slow client connect and start
            loaded = probe(server.port, seconds)
        reconnects = pressure.reconnects
    return {"calm": calm, "loaded": loaded, "reconnects": reconnects}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "slow-clients", help="latency of ordinary requests while slow clients hold sockets")
    parser.add_argument("--slow", type=int, default=50, help="slow and idle connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each probe run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--compare-sync", action="store_true",
                        help="also run gunicorn's sync worker under the same load")
    parser.add_argument("--dir", help="keep the databases and server logs here")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.slow < 1 or args.seconds <= 0 or args.workers < 1:
        print("teddy bench slow-clients: --slow, --seconds and --workers must be positive",
              file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        directory = Path(args.dir) if args.dir else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="teddy-slow-")))
        directory.mkdir(parents=True, exist_ok=True)
        classes: list[str | None] = [None] + (["sync"] if args.compare_sync else [])
        summary: dict[str, object] = {"slow_clients": args.slow, "workers": args.workers,
                                      "probe": PROBE_PATH}
        for worker_class in classes:
            label = worker_class or "cloud"
            figures = measure(directory, worker_class=worker_class, workers=args.workers,
                              slow=args.slow, seconds=args.seconds)
            calm, loaded = figures["calm"], figures["loaded"]
            assert isinstance(calm, Latencies) and isinstance(loaded, Latencies)
            print(f"{label:>5} worker, no slow clients: {calm.describe()}")
            print(f"{label:>5} worker, {args.slow} slow clients: {loaded.describe()} "
                  f"({figures['reconnects']} slow reconnects)")
            calm_p99, loaded_p99 = calm.percentile(99), loaded.percentile(99)
            summary[label] = {
                "calm_p50_ms": _ms(calm.percentile(50)), "calm_p99_ms": _ms(calm_p99),
                "loaded_p50_ms": _ms(loaded.percentile(50)), "loaded_p99_ms": _ms(loaded_p99),
                "loaded_failed": loaded.failed, "loaded_requests": loaded.count,
                "slow_reconnects": figures["reconnects"],
                "p99_ratio": (round(loaded_p99 / calm_p99, 2) if loaded_p99 and calm_p99
                              else None),
            }
    print(json.dumps(summary))
    cloud = summary["cloud"]
    assert isinstance(cloud, dict)
    return 1 if cloud["loaded_failed"] else 0
