"""Deleting rows, fast when most of a table goes, and never leaving their bytes behind.

Row by row, a DELETE rewrites every page it touches and fixes up each index entry one at a
time: about 200,000 rows/s here. When at least half a table expires it is much cheaper to copy
the survivors aside (in memory), empty the table in one step (SQLite frees its pages
wholesale), and put the survivors back. With secure_delete=ON the emptied pages are each
overwritten with zeros through the WAL; when the database that remains is smaller than what was
freed, writing it afresh with VACUUM is cheaper still, so the freed pages are left unzeroed
(secure_delete=FAST) and the caller must VACUUM before the purge ends. A marker file records
that duty so a crash in between is repaired by the next purge. Figures: docs/retention.md.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from cloud.storage.db import is_postgres

BULK_MIN_ROWS = 10_000
KEEP_TABLE = "temp.retention_survivors"


@dataclass(frozen=True)
class Deletion:
    rows: int
    vacuum_needed: bool = False


def prepare(db: sqlite_utils.Database) -> None:
    """Survivors copied aside stay in memory, never in a temporary file on disk."""
    db.execute("PRAGMA temp_store=MEMORY")


def _pages(db: sqlite_utils.Database, table: str) -> int | None:
    try:
        row = db.execute(
            "SELECT count(*) FROM dbstat WHERE name IN "
            "(SELECT name FROM sqlite_master WHERE tbl_name = ?)", [table]).fetchone()
    except sqlite3.OperationalError:
        return None  # SQLite built without the dbstat table: take the always-safe path
    return int(row[0])


def _vacuum_is_cheaper(db: sqlite_utils.Database, table: str, share: float) -> bool:
    pages = _pages(db, table)
    if pages is None:
        return False
    page_count = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    freed = pages * share
    return freed >= page_count - free - freed


def delete_where(db: sqlite_utils.Database, table: str, where: str, cutoff: float, *,
                 allow_vacuum: bool = False) -> Deletion:
    """Delete `table` rows matching `where` (one `?` for cutoff) in the caller's transaction."""
    expired = db.execute(f"SELECT count(*) FROM \"{table}\" WHERE {where}", [cutoff]).fetchone()[0]
    if expired == 0:
        return Deletion(0)
    if is_postgres(db):
        # The copy-aside below works around the cost of SQLite's secure_delete; PostgreSQL
        # deletes in place and VACUUM reclaims the space on its own schedule.
        return Deletion(int(db.execute(f"DELETE FROM \"{table}\" WHERE {where}",
                                       [cutoff]).rowcount))
    total = db.execute(f"SELECT count(*) FROM \"{table}\"").fetchone()[0]
    if expired < BULK_MIN_ROWS or expired * 2 < total:
        return Deletion(int(db.execute(f"DELETE FROM \"{table}\" WHERE {where}",
                                       [cutoff]).rowcount))
    fast = allow_vacuum and _vacuum_is_cheaper(db, table, expired / total)
    if fast:
        db.execute("PRAGMA secure_delete=FAST")
    try:
        # NOT coalesce(...): a row whose condition is NULL does not match, so it survives.
        db.execute(f"CREATE TABLE {KEEP_TABLE} AS SELECT * FROM \"{table}\" "
                   f"WHERE NOT coalesce(({where}), 0)", [cutoff])
        db.execute(f"DELETE FROM \"{table}\"")
        db.execute(f"INSERT INTO \"{table}\" SELECT * FROM {KEEP_TABLE}")
        db.execute(f"DROP TABLE {KEEP_TABLE}")
    finally:
        if fast:
            db.execute("PRAGMA secure_delete=ON")
    remaining = db.execute(f"SELECT count(*) FROM \"{table}\"").fetchone()[0]
    if remaining != total - expired:
        raise RuntimeError(f"bulk delete from {table} kept {remaining} rows, expected "
                           f"{total - expired}")
    return Deletion(int(expired), vacuum_needed=fast)


def vacuum_marker(db_path: str) -> Path:
    return Path(f"{db_path}.vacuum-pending")


def vacuum(db: sqlite_utils.Database, db_path: str) -> None:
    """Rewrite the file from live rows, dropping every freed page; clears the marker."""
    db.execute("PRAGMA secure_delete=ON")
    db.execute("VACUUM")
    vacuum_marker(db_path).unlink(missing_ok=True)
