"""Where a data database's key store lives: never inside the data database, never beside it in
its backups.

SQLite: a file of its own, `<data file>.child-keys` (0600), which `cloud.retention.backup`
does not copy. PostgreSQL: another database, by default `<data database>_keys` on the same
server (set `key_store` / `--key-store` to put it on a server whose WAL is not archived with
the data's). The key store may never be the data database itself: erasing a key there would
leave it in the data's WAL, replicas and backups.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cloud.storage.url import backend_of, sqlite_path

KEY_STORE_SUFFIX = ".child-keys"
PG_DATABASE_SUFFIX = "_keys"
MEMORY = ":memory:"


class KeyStoreConfigError(ValueError):
    """A key store location that would defeat crypto-shredding, or cannot be derived."""


def default_key_store(db_path: str) -> str:
    if backend_of(db_path) == "postgresql":
        parts = urlsplit(db_path)
        name = parts.path.lstrip("/")
        if not name:
            raise KeyStoreConfigError(
                "the PostgreSQL URL names no database, so no key store can be derived from "
                "it; give --key-store postgresql://.../<keys database>")
        return with_database(db_path, f"{name}{PG_DATABASE_SUFFIX}")
    path = sqlite_path(db_path)
    if path == MEMORY:
        return MEMORY
    return path + KEY_STORE_SUFFIX


def with_database(url: str, name: str) -> str:
    """The same PostgreSQL URL naming another database. Built by hand: urlunsplit drops the
    empty host of a Unix-socket URL (postgresql:///db?host=/run/...), changing its meaning."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}/{name}{query}"


def key_store_location(db_path: str, configured: str | None) -> str:
    """The key store for this data database; KeyStoreConfigError if it would be the data."""
    location = configured or default_key_store(db_path)
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
