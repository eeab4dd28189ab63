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
import threading
from collections.abc import Iterator

SUFFIX = "-writers"


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


@contextlib.contextmanager
def turn(db_path: str) -> Iterator[None]:
    """Hold the database's writer turn: other users of the queue wait until this ends."""
    fd = _descriptor(db_path)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
