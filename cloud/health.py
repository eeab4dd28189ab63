"""Health for process supervisors, load balancers and scenario runners: it tells the truth.

`ok` only when the database answers a read and the folder it lives in can take a write (a
small file is written, synced and removed, and enough space is free for a WAL to grow). On a
full disk or an unreadable database the answer is 503 with what is wrong.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

import psycopg
from flask import Blueprint, current_app, jsonify

from cloud.db import get_db
from cloud.storage.url import backend_of, sqlite_path

bp = Blueprint("health", __name__)

# Below this much free space a write that grows the WAL by a few pages may fail.
MIN_FREE_BYTES = 1024 * 1024
PROBE_BYTES = 4096


def problems(db_path: str) -> list[str]:
    found: list[str] = []
    try:
        get_db().execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except (sqlite3.Error, psycopg.Error) as exc:
        found.append(f"database unreadable: {exc}")
    if backend_of(db_path) == "postgresql":
        # The server's disk is the server's to watch; there is no folder of ours to probe.
        return found
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
