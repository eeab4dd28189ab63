"""Writers take turns through a kernel lock on a file beside the database.

When two workers want to write at once, SQLite makes the loser sleep and retry (1, 2, 5,
10 ms ...), so a 0.3 ms transaction can cost its neighbour 10 ms. Waiting on an flock instead
wakes the next writer the moment the lock is released. The queue only orders those who use it:
SQLite's own locking still guards every connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

SUFFIX = "-writers"
# While waiting with a deadline, how often the flock is tried again: a wait that cannot be
# bounded in the kernel (flock has no timeout) is polled instead.
POLL_S = 0.002


class WriterQueueTimeout(sqlite3.OperationalError):
    """Waited longer than allowed for the writer turn; handled like SQLite's "locked"."""


_process_locks: dict[tuple[int, str], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(db_path: str) -> threading.Lock:
    # Threads of one process queue on a lock that can time out; only the thread at the head
    # then waits on the flock, behind at most one writer of each other process.
    key = (os.getpid(), db_path)
    with _process_locks_guard:
        lock = _process_locks.get(key)
        if lock is None:
            lock = _process_locks[key] = threading.Lock()
        return lock


class _Descriptors(threading.local):
    def __init__(self) -> None:
        self.by_key: dict[tuple[int, str], int] = {}


_descriptors = _Descriptors()


def _descriptor(db_path: str) -> int:
    # One descriptor per process and thread: an flock belongs to an open file description, so
    # one shared across a fork or between threads would let both sides in at once.
    key = (os.getpid(), db_path)
    fd = _descriptors.by_key.get(key)
    if fd is None:
        fd = os.open(f"{db_path}{SUFFIX}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        _descriptors.by_key[key] = fd
    return fd


def _flock_by(fd: int, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WriterQueueTimeout("database is locked: another process's writer "
                                         "holds the turn") from None
            time.sleep(min(POLL_S, left))


@contextlib.contextmanager
def turn(db_path: str, timeout_s: float | None = None) -> Iterator[float | None]:
    """Hold the database's writer turn: other users of the queue wait until this ends.

    With `timeout_s`, the whole wait (behind this process's other threads, then behind other
    processes' writers) ends in WriterQueueTimeout once it has lasted that long: a request
    must answer, not hang. Yields the deadline (time.monotonic()), or None without one, so the
    caller can give what is left of it to SQLite's own busy wait.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    lock = _process_lock(db_path)
    if not lock.acquire(timeout=-1 if timeout_s is None else timeout_s):
        raise WriterQueueTimeout("database is locked: writers are queued")
    try:
        fd = _descriptor(db_path)
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            _flock_by(fd, deadline)
        try:
            yield deadline
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        lock.release()
