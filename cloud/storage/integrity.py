"""Whether an SQLite database file is whole: `PRAGMA quick_check`, at start and for /healthz.

A database with one damaged page opens, answers `SELECT 1` and reads its schema, and yet every
request touching the page fails. So the cloud checks the whole file's structure before it
serves (refusing to start, in one sentence) and /healthz repeats the check now and then, so a
load balancer stops sending toys to a server whose file went bad while it ran.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import sqlite_utils

from cloud.storage.files import DatabaseFileError

# /healthz runs the check at most this often per process; it reads the whole file.
HEALTH_CHECK_EVERY_S = 60.0
MAX_REPORTED = 3


class DatabaseDamaged(DatabaseFileError):
    """The database file fails SQLite's structural check; the message says where."""


def problems(db: sqlite_utils.Database) -> list[str]:
    """quick_check's findings (empty if the file is whole)."""
    try:
        rows = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def require_whole(db: sqlite_utils.Database, path: str) -> None:
    found = problems(db)
    if found:
        shown = "; ".join(found[:MAX_REPORTED])
        raise DatabaseDamaged(
            f"{path} is damaged ({shown}); restore it from a backup (teddy cloud backup "
            "keeps them beside it) before starting")


class _Cached:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.checked: dict[str, tuple[float, list[str]]] = {}


_cache = _Cached()


def recent_problems(db: sqlite_utils.Database, path: str) -> list[str]:
    """`problems`, run again only when the last run is HEALTH_CHECK_EVERY_S old."""
    now = time.monotonic()
    with _cache.lock:
        last = _cache.checked.get(path)
        if last is not None and now - last[0] < HEALTH_CHECK_EVERY_S and not last[1]:
            return []
    found = problems(db)
    with _cache.lock:
        _cache.checked[path] = (now, found)
    return found
