"""A stalled PostgreSQL is a clean JSON 503 within the toy's 3 s, never a hang (issue 26,
item 7), and /healthz never shows the driver's error text (item 6)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cloud_helpers import intent_body, make_family, signed_intent_headers

from cloud.storage.db import REQUEST_STATEMENT_TIMEOUT_MS, connect, open_db
from cloud.storage.throwaway_postgres import ThrowawayPostgres
from teddy.cloud_process import CloudProcess

TOY_BUDGET_S = 3.0


@contextlib.contextmanager
def _frozen(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def test_a_request_connection_gives_up_on_a_frozen_backend_within_budget(
        postgres_url: str) -> None:
    """The server cannot cancel a statement when its process is stopped: the client must."""
    db = connect(postgres_url, lock_timeout_ms=1000,
                 statement_timeout_ms=REQUEST_STATEMENT_TIMEOUT_MS)
    backend = int(db.execute("SELECT pg_backend_pid()").fetchone()[0])
    started = time.monotonic()
    with _frozen([backend]), pytest.raises(psycopg.OperationalError):
        db.execute("SELECT 1").fetchone()
    assert time.monotonic() - started < TOY_BUDGET_S - 0.5
    assert not db.usable  # replaced on the next request
    db.close()
    # Control: a healthy server's long statement is cancelled by statement_timeout itself.
    db = connect(postgres_url, statement_timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        db.execute("SELECT pg_sleep(10)")
    assert time.monotonic() - started < 1.0 and db.usable
    db.close()


def _request(port: int, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, object], float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read()), time.monotonic() - started
    finally:
        conn.close()


def _server_pids(server: ThrowawayPostgres) -> list[int]:
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)],
                              capture_output=True, text=True, check=False).stdout.split()
    return [postmaster, *map(int, children)]


@pytest.mark.slow("starts its own PostgreSQL server and a gunicorn cloud, and stops them")
def test_a_stopped_postgres_is_a_json_503_within_the_toys_budget(tmp_path: Path) -> None:
    with ThrowawayPostgres() as server:
        url = server.create_database("teddy")
        env = {"TEDDY_SECRET_KEY": "stall-test-key", "TEDDY_PURGE_INTERVAL_S": "0"}
        with CloudProcess(url, extra_args=["--workers", "1"], env=env,
                          log_path=tmp_path / "serve.log") as cloud:
            port = cloud.port
            db = open_db(url)
            family = make_family(db, purposes=("core", "history"))
            db.close()

            def intent() -> tuple[int, dict[str, object], float]:
                body = intent_body(family, "greet")
                return _request(port, "POST", "/api/v1/intent", body,
                                signed_intent_headers(family, body))

            assert intent()[0] == 200
            with _frozen(_server_pids(server)):
                for _ in range(3):  # a request on the old connection, then reconnecting
                    status, reply, took = intent()
                    assert status == 503 and reply.get("code") == "database_busy", reply
                    assert took < TOY_BUDGET_S, took
                    status, health, took = _request(port, "GET", "/healthz")
                    assert status == 503 and took < TOY_BUDGET_S, (health, took)
                    shown = json.dumps(health)
                    assert "psycopg" not in shown and "connection" not in shown.lower()
                    assert str(server.socket_dir) not in shown, shown
            recovered = time.monotonic() + 10
            while intent()[0] != 200:
                assert time.monotonic() < recovered, "the cloud did not recover"
                time.sleep(0.2)
