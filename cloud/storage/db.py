"""Opening the database with the settings every connection must have, on either backend.

`db_path` is an SQLite file (or `sqlite:///` URL) or a `postgresql://` URL
(cloud.storage.url). Both give an object with the same small surface (cloud.storage.postgres);
what only SQLite has (WAL, the writer queue, the checkpointer, secure_delete, file modes)
stays on the SQLite branch here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator

import sqlite_utils

from cloud.seam import seam_point
from cloud.storage import checkpointer, files, integrity, writer_queue
from cloud.storage.migrations import migrate
from cloud.storage.postgres import PgDatabase
from cloud.storage.url import backend_of, sqlite_path

# What every function here accepts and returns: the cloud's code uses only the surface both
# share (execute, table_names, db[table].columns/.pks, close).
Database = sqlite_utils.Database | PgDatabase

BUSY_TIMEOUT_MS = 5000
# A request waits at most this long for a write lock another process holds, then answers 503
# with Retry-After: a toy gives up after 3 s, so a prompt "busy, retry" beats a late answer.
REQUEST_BUSY_TIMEOUT_MS = 1000
# On PostgreSQL a request's statement is cancelled after this long (and its connection cut
# if a stopped server cannot even cancel it), so a stalled database is a 503 within the toy's
# 3 s, whatever it is doing (cloud.storage.postgres).
REQUEST_STATEMENT_TIMEOUT_MS = 1500
# After a checkpoint resets the WAL, trim its file to this size instead of keeping its peak.
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
# A server process serves one database; tests make many apps in one thread, so bound the cache.
MAX_CACHED_PER_THREAD = 4


@seam_point("connect")
def connect(db_path: str, *, lock_timeout_ms: int = BUSY_TIMEOUT_MS,
            statement_timeout_ms: int | None = None) -> Database:
    """A new connection to the database `db_path` names, set up for the cloud."""
    if backend_of(db_path) == "postgresql":
        return PgDatabase(db_path, lock_timeout_ms=lock_timeout_ms,
                          statement_timeout_ms=statement_timeout_ms)
    return connect_sqlite(sqlite_path(db_path))


def connect_sqlite(path: str) -> sqlite_utils.Database:
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


def open_db(db_path: str, *, migrate_schema: bool = True) -> Database:
    db = connect(db_path)
    if migrate_schema:
        try:
            if isinstance(db, sqlite_utils.Database):
                # Before the migration touches it: a damaged file is refused in one sentence.
                integrity.require_whole(db, sqlite_path(db_path))
            migrate(db)
        except BaseException:
            db.close()
            raise
        if isinstance(db, sqlite_utils.Database):
            files.tighten_existing(sqlite_path(db_path))
    return db


def is_postgres(db: Database) -> bool:
    return isinstance(db, PgDatabase)


def in_transaction(db: Database) -> bool:
    """Whether `db` has a transaction open (BEGIN without COMMIT/ROLLBACK yet)."""
    if isinstance(db, PgDatabase):
        return db.in_transaction
    return bool(db.conn.in_transaction)


class _WorkerConnections(threading.local):
    def __init__(self) -> None:
        self.by_key: OrderedDict[tuple[int, str], Database] = OrderedDict()


_worker = _WorkerConnections()
# Connections inherited across a fork: never used, and never closed (closing one here could
# release locks or remove files the parent still relies on), only kept from the collector.
_inherited: list[Database] = []


def worker_connection(path: str) -> Database:
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
    if db is not None and not (isinstance(db, PgDatabase) and not db.usable):
        cache.move_to_end(key)
        return db
    if db is not None:
        # The server restarted or the network dropped: this request gets a new connection
        # (or, if the server is still away, the 503 the connection error turns into).
        del cache[key]
        with contextlib.suppress(Exception):
            db.close()
    if backend_of(path) == "postgresql":
        db = connect(path, lock_timeout_ms=REQUEST_BUSY_TIMEOUT_MS,
                     statement_timeout_ms=REQUEST_STATEMENT_TIMEOUT_MS)
    else:
        db = connect(path)
        db.execute(f"PRAGMA busy_timeout={REQUEST_BUSY_TIMEOUT_MS}")
        if checkpointer.running_for(sqlite_path(path)):
            db.execute("PRAGMA wal_autocheckpoint=0")
    cache[key] = db
    while len(cache) > MAX_CACHED_PER_THREAD:
        (pid, _path), oldest = cache.popitem(last=False)
        if pid == os.getpid():
            oldest.close()
        else:
            _inherited.append(oldest)
    return db


def release(db: Database) -> None:
    """Return a worker connection after a request: no transaction may outlive it."""
    if isinstance(db, PgDatabase):
        db.rollback_if_open()
    elif db.conn.in_transaction:
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


def database_path(db: sqlite_utils.Database) -> str:
    """The main database's file, or "" for an in-memory one."""
    path = _paths.get(db)
    if path is None:
        rows = db.execute("PRAGMA database_list").fetchall()
        path = next(file for _seq, name, file in rows if name == "main")
        _paths[db] = path
    return path


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception, one writer at a time.

    On PostgreSQL, BEGIN takes the database-wide writer lock (an advisory transaction lock,
    cloud.storage.postgres): the same order SQLite's single writer gives, across every app
    server. A lock not granted within the connection's lock_timeout fails with
    LockNotAvailable, which requests answer as 503 "busy, retry".

    On SQLite, writers are queued in the kernel first: when two workers want to write at
    once, SQLite's busy handler makes the loser sleep and retry (1, 2, 5, 10 ms ...), which
    turns a 0.3 ms transaction into a 10 ms tail. Queueing writers on an flock first wakes the
    next one the moment the lock is released. The lock only orders writers that use it;
    SQLite's own locking still guards everyone else.
    """
    if isinstance(db, PgDatabase):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.rollback_if_open()
            raise
        db.execute("COMMIT")
        return
    path = database_path(db)
    timeout_ms = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
    # An in-memory database belongs to one connection: there is no other writer to queue with.
    with (writer_queue.turn(path, timeout_ms / 1000) if path
          else contextlib.nullcontext()) as deadline:
        # One budget for the whole wait: the queue's, then SQLite's own for a writer outside
        # the queue; not one budget each, which added up past the toy's 3 s.
        left_ms = timeout_ms if deadline is None else max(
            1, int((deadline - time.monotonic()) * 1000))
        if left_ms != timeout_ms:
            db.execute(f"PRAGMA busy_timeout={left_ms}")
        try:
            db.execute("BEGIN IMMEDIATE")
        finally:
            if left_ms != timeout_ms:
                db.execute(f"PRAGMA busy_timeout={timeout_ms}")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
