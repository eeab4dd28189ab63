"""Checkpointing the WAL from a background thread, off the request path.

By default SQLite checkpoints inside whichever COMMIT pushes the WAL past 1000 pages, and a
checkpoint ends with an fsync that takes 5-30 ms on this machine's disk: one request in every
hundred or so would pay it. A server process instead starts this thread, and its request
connections turn automatic checkpoints off. Several times a second the thread copies frames
back with a PASSIVE checkpoint, which never blocks readers or writers; SQLite releases the GIL
while it works, so the worker keeps serving.

Under steady writes a PASSIVE checkpoint never finds the WAL idle, so the WAL would never
start again from its beginning and would grow without bound; appending to a growing file also
costs each commit about three times as much as overwriting one. Once the WAL passes
RESTART_FRAMES the thread runs a RESTART checkpoint straight after the PASSIVE one, so it only
has the last moment's frames to copy, and holds the writer queue meanwhile: writers wait in
the kernel for those few milliseconds instead of in SQLite's sleep-and-retry. The next writer
then reuses the file from its start. Erasure still runs its own TRUNCATE checkpoint (R19).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

import sqlite_utils

from cloud.seam import seam_point
from cloud.storage import writer_queue

# At 1,000 intents a second the WAL grows by about 25 MB a second; checking often keeps it
# within journal_size_limit, so it is overwritten rather than appended to.
INTERVAL_S = 0.2
RESTART_FRAMES = 2000  # about 8 MB of 4 KiB pages
RESTART_BUSY_MS = 200

_log = logging.getLogger(__name__)
_running: dict[str, tuple[threading.Thread, threading.Event]] = {}
_lock = threading.Lock()


@seam_point("background_checkpoint")
def _checkpoint(db: sqlite_utils.Database, path: str) -> None:
    _busy, wal_frames, _copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if wal_frames > RESTART_FRAMES:
        with writer_queue.turn(path):
            db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()


def _loop(path: str, interval_s: float, stop: threading.Event) -> None:
    from cloud.storage.db import connect

    db = connect(path)
    db.execute(f"PRAGMA busy_timeout={RESTART_BUSY_MS}")
    try:
        while not stop.wait(interval_s):
            try:
                _checkpoint(db, path)
            except sqlite3.Error as exc:
                # Frames not copied now are copied on the next pass; nothing is lost.
                _log.warning("background WAL checkpoint failed: %s", exc)
    finally:
        db.close()


def start(path: str, interval_s: float = INTERVAL_S) -> threading.Event:
    """Start this process's checkpointer for `path` (once); set the returned event to stop it.

    SQLite only: PostgreSQL checkpoints its own WAL, so for a PostgreSQL URL nothing starts."""
    from cloud.storage.url import backend_of, sqlite_path

    if backend_of(path) != "sqlite":
        stopped = threading.Event()
        stopped.set()
        return stopped
    path = sqlite_path(path)
    with _lock:
        if running_for(path):
            return _running[path][1]
        stop = threading.Event()
        thread = threading.Thread(target=_loop, args=(path, interval_s, stop), daemon=True,
                                  name=f"wal-checkpoint:{path}")
        thread.start()
        _running[path] = (thread, stop)
        return stop


def running_for(path: str) -> bool:
    """True in a process whose checkpointer for `path` is alive (never across a fork)."""
    entry = _running.get(path)
    return entry is not None and entry[0].is_alive() and not entry[1].is_set()


def stop_all(timeout_s: float = 2.0) -> None:
    """Stop this process's checkpointers and wait for each to close its connection."""
    with _lock:
        entries = list(_running.values())
        _running.clear()
    for thread, stop in entries:
        stop.set()
        if thread.is_alive():
            thread.join(timeout_s)
