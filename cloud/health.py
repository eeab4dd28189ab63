"""Health for process supervisors, load balancers and scenario runners: it tells the truth.

`ok` only when the database answers a read, an SQLite file passes `PRAGMA quick_check` (run
at most once a minute, cloud.storage.integrity), and the folder it lives in can take a write (a
small file is written, synced and removed, and enough space is free for a WAL to grow). On a
full disk, a damaged file or an unreadable database the answer is 503 with what is wrong, in
words of our own: /healthz needs no sign-in, so the database driver's text (server names,
paths, SQL) goes to the log, never into the answer. A stalled PostgreSQL is a 503 within the
request statement timeout (cloud.storage.db), not a hang.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from pathlib import Path

import psycopg
from flask import Blueprint, current_app, jsonify

from cloud.db import get_db
from cloud.storage import integrity
from cloud.storage.url import backend_of, sqlite_path

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

# Below this much free space a write that grows the WAL by a few pages may fail.
MIN_FREE_BYTES = 1024 * 1024
PROBE_BYTES = 4096


def problems(db_path: str) -> list[str]:
    found: list[str] = []
    try:
        db = get_db()
        db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except (sqlite3.Error, psycopg.Error) as exc:
        log.warning("/healthz: database unreadable: %s", exc)
        return ["database unreadable or not answering"]
    if backend_of(db_path) == "postgresql":
        # The server's disk is the server's to watch; there is no folder of ours to probe.
        return found
    damage = integrity.recent_problems(db, sqlite_path(db_path))
    if damage:
        log.warning("/healthz: quick_check: %s", "; ".join(damage[:integrity.MAX_REPORTED]))
        found.append("database file damaged (PRAGMA quick_check failed)")
    folder = Path(sqlite_path(db_path)).resolve().parent
    try:
        space = os.statvfs(folder)
        free = space.f_bavail * space.f_frsize
        if free < MIN_FREE_BYTES:
            found.append(f"disk nearly full: {free} bytes free under {folder.name or '/'}")
        probe = folder / f".teddy-health-{secrets.token_hex(4)}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, bytes(PROBE_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        found.append(f"cannot write beside the database: {exc.strerror or exc}")
    return found


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    found = problems(current_app.config["TEDDY"].db_path)
    if found:
        return jsonify(status="unavailable", problems=found), 503
    return jsonify(status="ok")
