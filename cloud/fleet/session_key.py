"""The key that signs parent sessions, kept in the database so every app server shares it.

A session cookie signed by one server must be read by any other, and the sign-in and pairing
throttles key their address hashes with the same secret, so their counts agree across servers
only if the key does. The first server to start inserts a random key with ON CONFLICT DO
NOTHING and then reads back whichever key won, so any number of servers starting at once end
up with one key and no server ever overwrites it. An explicitly configured key still wins.

Before issue 18 the key lived in `<db>.key` beside an SQLite file. On upgrade that file's key
is adopted, so parents signed in before the upgrade stay signed in, and the file is removed
once the database holds the same key: one copy of a secret is easier to keep than two.
Backups leave the key out (cloud.retention.backup), so a copied backup cannot sign cookies.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from pathlib import Path

import sqlite_utils

from cloud.storage.url import backend_of, sqlite_path

log = logging.getLogger(__name__)
SESSION_KEY_NAME = "session"
KEY_BYTES = 32
LEGACY_SUFFIX = ".key"


def legacy_key_file(db_path: str) -> Path | None:
    """Where a pre-fleet server kept the key: beside an SQLite file, never for PostgreSQL."""
    if backend_of(db_path) != "sqlite":
        return None
    path = sqlite_path(db_path)
    return None if path == ":memory:" else Path(f"{path}{LEGACY_SUFFIX}")


def _stored(db: sqlite_utils.Database) -> str | None:
    row = db.execute("SELECT value FROM server_secrets WHERE name = ?",
                     [SESSION_KEY_NAME]).fetchone()
    return None if row is None else str(row[0])


def _legacy_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        key = path.read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    return key or None


def shared_session_key(db: sqlite_utils.Database, db_path: str) -> str:
    """The database's session key, created (or adopted from `<db>.key`) on first use."""
    key = _stored(db)
    if key is not None:
        return key
    legacy = legacy_key_file(db_path)
    candidate = _legacy_key(legacy) or secrets.token_hex(KEY_BYTES)
    db.execute("INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) "
               "ON CONFLICT (name) DO NOTHING", [SESSION_KEY_NAME, candidate, time.time()])
    key = _stored(db)
    if key is None:
        raise RuntimeError("the session key could not be stored in the database")
    if legacy is not None and _legacy_key(legacy) == key:
        with contextlib.suppress(FileNotFoundError):
            legacy.unlink()
        log.info("adopted the session key from %s into the database", legacy)
    return key
