"""The same two endpoints called in process: what each app costs per request, with no server.

The served ratio mixes three things: the apps' own work, the HTTP server's work per request
(the same for both), and what two workers pay for sharing one database (each worker's page
cache is dropped whenever the other commits). Calling the WSGI apps directly, one request at a
time on one connection each, leaves out the last two. The served ratio can rise above this
one only as far as the server's own work, the same for both, dilutes the apps' gap.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from cloud.bench.toys import BenchToy, PreparedRequest, bare_requests, create_toys, signed_requests
from cloud.storage import checkpointer
from cloud.storage.db import close_worker_connections

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# The first block warms caches and the apps' lazy state; it is measured but not counted.
WARMUP_BLOCKS = 1


class InProcessError(RuntimeError):
    """An app answered something other than 200, so its timing would not be comparable."""


@dataclass(frozen=True)
class AppCost:
    cloud_us: float
    bare_us: float
    # Of cloud_us: sealing and opening child values with per-child keys (cloud.keys), key
    # look-ups included, and how many values that was per request.
    crypto_us: float = 0.0
    sealed_values: float = 0.0

    @property
    def crypto_share(self) -> float:
        return self.crypto_us / self.cloud_us if self.cloud_us else 0.0

    @property
    def ratio(self) -> float:
        return self.bare_us / self.cloud_us


def measure_requests(app: WsgiApp, requests: list[PreparedRequest]) -> float:
    """Microseconds per request for `app` to answer each of `requests`, all with 200."""
    return measure_with_crypto(app, requests)[0]


def measure_with_crypto(app: WsgiApp, requests: list[PreparedRequest]
                        ) -> tuple[float, float, float]:
    """Per request: microseconds in all, microseconds sealing and opening child values, and
    how many values were sealed or opened. The app runs in this thread, so the keys module's
    per-thread tally is exactly this app's."""
    from cloud.keys.fields import crypto_time

    environs = [EnvironBuilder(path=r.path, method="POST", data=r.body, headers=r.headers)
                .get_environ() for r in requests]
    statuses: list[str] = []

    def start_response(status: str, _headers: list[tuple[str, str]], _exc: Any = None) -> None:
        statuses.append(status)

    crypto_before, ops_before = crypto_time()
    started = time.perf_counter()
    for environ in environs:
        b"".join(app(environ, start_response))
    elapsed = time.perf_counter() - started
    crypto_after, ops_after = crypto_time()
    refused = [s for s in statuses if not s.startswith("200")]
    if refused:
        raise InProcessError(f"{len(refused)} in-process requests were refused: {refused[0]}")
    count = len(environs)
    return (elapsed / count * 1e6, (crypto_after - crypto_before) / count * 1e6,
            (ops_after - ops_before) / count)


def _interleaved(toys: list[BenchToy], per_block: int, blocks: int, cloud: WsgiApp,
                 bare: WsgiApp) -> AppCost:
    per_toy = max(1, per_block // len(toys))
    cloud_us: list[float] = []
    bare_us: list[float] = []
    crypto_us: list[float] = []
    sealed: list[float] = []
    for block in range(WARMUP_BLOCKS + blocks):
        # Signed per block, so every timestamp is fresh and every nonce new.
        total, crypto, values = measure_with_crypto(
            cloud, [r for t in toys for r in signed_requests(t, per_toy)])
        bare_total = measure_requests(bare, [r for t in toys for r in bare_requests(t, per_toy)])
        if block >= WARMUP_BLOCKS:
            cloud_us.append(total)
            bare_us.append(bare_total)
            crypto_us.append(crypto)
            sealed.append(values)
    return AppCost(statistics.median(cloud_us), statistics.median(bare_us),
                   statistics.median(crypto_us), statistics.median(sealed))


def measure(directory: Path, toys: int, per_block: int, blocks: int) -> AppCost:
    """Median cost per request of each app over alternating blocks of `per_block` requests."""
    from cloud.app import create_app
    from cloud.bench.bare_app import create_bare_app

    cloud_db, bare_db = (str(directory / f"in-process-{name}.db") for name in ("cloud", "bare"))
    # As in a server worker: WAL frames go back from a background thread, not inside a COMMIT.
    # Started first, so the connections the apps open see it and turn automatic checkpoints off.
    for path in (cloud_db, bare_db):
        checkpointer.start(path)
    try:
        cloud = create_app(db_path=cloud_db)
        bare = create_bare_app(bare_db)
        bench_toys = create_toys(cloud_db, toys)
        return _interleaved(bench_toys, per_block, blocks, cloud, bare)
    finally:
        checkpointer.stop_all()
        close_worker_connections()
