"""Where a data database's key store lives: never inside the data database, never beside it in
its backups.

The key store is always an SQLite file (cloud.keys.store says why: a PostgreSQL table cannot
forget a deleted row). With SQLite data it is `<data file>.child-keys` (0600), which
`cloud.retention.backup` does not copy. With PostgreSQL data it is named by `key_store` /
`--key-store`, by default `<state dir>/child-keys/<host>-<port>-<database>.child-keys` on the
app server's own disk, where `<state dir>` is `$XDG_STATE_HOME/teddy` or
`~/.local/state/teddy`: every app server on one host finds the same file. App servers on
several hosts must all be given one key store they share (docs/cloud.md, "Fleet"). The key
store may never be the data database itself: erasing a key there would leave it in the
data's WAL, replicas and backups.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cloud.storage.url import backend_of, sqlite_path

KEY_STORE_SUFFIX = ".child-keys"
KEY_STORE_DIR = "child-keys"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MEMORY = ":memory:"


class KeyStoreConfigError(ValueError):
    """A key store location that would defeat crypto-shredding, or cannot be derived."""


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "teddy"


def default_key_store(db_path: str) -> str:
    if backend_of(db_path) == "postgresql":
        parts = urlsplit(db_path)
        name = parts.path.lstrip("/")
        if not name:
            raise KeyStoreConfigError(
                "the PostgreSQL URL names no database, so no key store can be derived from "
                "it; give --key-store /path/to/teddy.child-keys")
        # A Unix-socket URL names its host in the query (postgresql:///db?host=/run/pg).
        host = parts.hostname or parse_qs(parts.query).get("host", ["local"])[0]
        port = parts.port or parse_qs(parts.query).get("port", ["5432"])[0]
        stem = _UNSAFE.sub("_", f"{host}-{port}-{name}").strip("_")
        return str(state_dir() / KEY_STORE_DIR / f"{stem}{KEY_STORE_SUFFIX}")
    path = sqlite_path(db_path)
    if path == MEMORY:
        return MEMORY
    return path + KEY_STORE_SUFFIX


def key_store_location(db_path: str, configured: str | None) -> str:
    """The key store for this data database; KeyStoreConfigError if it would be the data."""
    location = configured or default_key_store(db_path)
    if is_postgres(location):
        raise KeyStoreConfigError(
            "the key store must be a file, not a PostgreSQL database (a deleted row stays in "
            "its heap and WAL, so a destroyed key could not be proved gone); give "
            "--key-store /path/to/teddy.child-keys")
    if _same_database(location, db_path) and location != MEMORY:
        raise KeyStoreConfigError(
            "the key store must be a separate database from the data (else destroying a key "
            "leaves it in the data's WAL and backups); give another --key-store")
    return location


def _same_database(a: str, b: str) -> bool:
    if backend_of(a) != backend_of(b):
        return False
    if backend_of(a) == "sqlite":
        import os

        return os.path.abspath(sqlite_path(a)) == os.path.abspath(sqlite_path(b))
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.port, pa.path, pa.query) == (pb.hostname, pb.port, pb.path, pb.query)


def is_postgres(location: str) -> bool:
    return backend_of(location) == "postgresql"
