"""`teddy cloud serve --db postgresql://...` under real gunicorn with two workers, on loopback."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cloud_helpers import intent_body, make_family, signed_intent_headers

from cloud.storage.db import open_db
from teddy.cloud_process import free_port, stop_process_group


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_serve_on_postgres_answers_toys_and_parents(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    # The session key file lives beside an SQLite file; with a URL it is given.
    env = {**os.environ, "TEDDY_SECRET_KEY": "serve-test-key", "TEDDY_PURGE_INTERVAL_S": "0"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "teddy", "cloud", "serve", "--db", postgres_url,
             "--port", str(port), "--workers", "2"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            with contextlib.suppress(OSError, http.client.HTTPException):
                if _get(port, "/healthz")[0] == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        db = open_db(postgres_url)  # migrated by the server's master on start
        family = make_family(db, purposes=("core", "history"))
        stored = 0
        for _ in range(6):  # several requests, so both workers are likely to answer some
            body = intent_body(family, "greet")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/api/v1/intent", body=body,
                         headers=signed_intent_headers(family, body))
            response = conn.getresponse()
            reply = json.loads(response.read())
            conn.close()
            assert response.status == 200, reply
            assert "history" in reply["policy"]["purposes"]
            stored += 1
        assert db.execute("SELECT count(*) FROM intent_events WHERE child_id = ?",
                          [family.child_id]).fetchone()[0] == stored
        status, page = _get(port, "/parent/login")
        assert status == 200 and b"<form" in page
        db.close()
    finally:
        stop_process_group(server)
    assert not list(Path.cwd().glob("postgresql*")), "files written beside the URL"
