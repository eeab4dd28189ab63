"""Slow and idle clients cannot starve the cloud: ordinary requests are still answered at once.

A real gunicorn server on loopback and 50 real sockets that trickle a request a byte at a time
or send nothing; the negative control is gunicorn's sync worker, which they do starve.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.bench.servers import BenchServer
from cloud.bench.slow_clients import SlowClients, probe

SLOW = 50


def _answers_with_slow_clients(tmp_path: Path, worker_class: str | None, seconds: float):  # type: ignore[no-untyped-def]
    with BenchServer("cloud", tmp_path / "cloud.db", 2, tmp_path / "server.log",
                     worker_class=worker_class) as server:
        server.spawn()
        server.wait_ready(timeout_s=30)
        with SlowClients(server.port, SLOW):
            probe(server.port, 0.5)  # every slow client has connected by now
            return probe(server.port, seconds)


@pytest.mark.alone("bounds ordinary requests' latency while fifty slow clients hold connections")
def test_fifty_slow_clients_do_not_starve_ordinary_requests(tmp_path: Path) -> None:
    result = _answers_with_slow_clients(tmp_path, None, 3.0)
    assert result.failed == 0 and len(result.answered_ms) >= 10, result.describe()
    assert max(result.answered_ms) < 3000, result.describe()


@pytest.mark.slow("waits out a starved sync worker")
def test_negative_control_the_sync_worker_is_starved(tmp_path: Path) -> None:
    result = _answers_with_slow_clients(tmp_path, "sync", 1.0)
    # The check above wants no failure at all. A sync worker is free for a moment whenever a
    # trickling client finishes, so a request may slip through; starved ones still fail.
    assert result.failed >= 1, result.describe()
