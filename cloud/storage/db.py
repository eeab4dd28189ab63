"""Opening the database with the settings every connection must have."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator

import sqlite_utils

from cloud.storage import checkpointer, files, writer_queue
from cloud.storage.migrations import migrate

BUSY_TIMEOUT_MS = 5000
# A request waits at most this long for a write lock another process holds, then answers 503
# with Retry-After: a toy gives up after 3 s, so a prompt "busy, retry" beats a late answer.
REQUEST_BUSY_TIMEOUT_MS = 1000
# After a checkpoint resets the WAL, trim its file to this size instead of keeping its peak.
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
# A server process serves one database; tests make many apps in one thread, so bound the cache.
MAX_CACHED_PER_THREAD = 4


def connect(path: str) -> sqlite_utils.Database:
    if path and path != ":memory:" and not path.startswith("file:"):
        # Owner-only from the first byte; SQLite gives the -wal and -shm the same mode.
        files.create_private_file(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    db = sqlite_utils.Database(conn)
    # secure_delete overwrites freed pages with zeros so erased data is gone from the file (R19).
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA secure_delete=ON")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    return db


def open_db(path: str, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    db = connect(path)
    if migrate_schema:
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        files.tighten_existing(path)
    return db


class _WorkerConnections(threading.local):
    def __init__(self) -> None:
        self.by_key: OrderedDict[tuple[int, str], sqlite_utils.Database] = OrderedDict()


_worker = _WorkerConnections()
# Connections inherited across a fork: never used, and never closed (closing one here could
# release locks or remove files the parent still relies on), only kept from the collector.
_inherited: list[sqlite_utils.Database] = []


def worker_connection(path: str) -> sqlite_utils.Database:
    """A connection reused by every request this process and thread serves.

    Opening a connection, setting its pragmas and warming its page cache costs more than a
    typical device request's queries, so each gunicorn worker keeps one. Keyed by process id
    as well: a connection must never be used on both sides of a fork, so one inherited from a
    parent is left untouched. Callers must end every transaction they begin; `release` rolls
    back any they did not.
    """
    key = (os.getpid(), path)
    cache = _worker.by_key
    db = cache.get(key)
    if db is not None:
        cache.move_to_end(key)
        return db
    db = connect(path)
    db.execute(f"PRAGMA busy_timeout={REQUEST_BUSY_TIMEOUT_MS}")
    if checkpointer.running_for(path):
        db.execute("PRAGMA wal_autocheckpoint=0")
    cache[key] = db
    while len(cache) > MAX_CACHED_PER_THREAD:
        (pid, _path), oldest = cache.popitem(last=False)
        if pid == os.getpid():
            oldest.close()
        else:
            _inherited.append(oldest)
    return db


def release(db: sqlite_utils.Database) -> None:
    """Return a worker connection after a request: no transaction may outlive it."""
    if db.conn.in_transaction:
        db.conn.rollback()


def close_worker_connections() -> None:
    """Close this process's and thread's cached connections, e.g. as a worker exits.

    The last connection to close checkpoints the WAL and removes it, so a stopped server
    leaves one tidy database file behind.
    """
    cache = _worker.by_key
    for (pid, _path), db in list(cache.items()):
        if pid == os.getpid():
            db.close()
            del cache[(pid, _path)]


_paths: weakref.WeakKeyDictionary[sqlite_utils.Database, str] = weakref.WeakKeyDictionary()


def _database_path(db: sqlite_utils.Database) -> str:
    """The main database's file, or "" for an in-memory one."""
    path = _paths.get(db)
    if path is None:
        rows = db.execute("PRAGMA database_list").fetchall()
        path = next(file for _seq, name, file in rows if name == "main")
        _paths[db] = path
    return path


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception, queued in the kernel.

    When two workers want to write at once, SQLite's busy handler makes the loser sleep and
    retry (1, 2, 5, 10 ms ...), which turns a 0.3 ms transaction into a 10 ms tail. Queueing
    writers on an flock first wakes the next one the moment the lock is released. The lock only
    orders writers that use it; SQLite's own locking still guards everyone else.
    """
    path = _database_path(db)
    timeout_ms = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
    # An in-memory database belongs to one connection: there is no other writer to queue with.
    with (writer_queue.turn(path, timeout_ms / 1000) if path
          else contextlib.nullcontext()):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
