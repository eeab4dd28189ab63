"""Backups that obey the same retention and erasure rules as the live database (R19).

A backup is a copy made with SQLite's online backup API, so it is consistent while the cloud
keeps serving. It is named after the cloud clock's time, which is how its age is judged, so a
scenario that moves the clock ages its backups too. Backups expire after the shortest
retention of any personal child data (`policy.backup_retention_days`); until then every purge
applies the live expiry rules to them, and every erasure rewrites the ones holding the child.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from cloud.keys.store import store_for_path
from cloud.retention.child_rows import delete_child_rows
from cloud.retention.policy import DAY_S, backup_retention_days, erase_plan
from cloud.storage.db import connect

BACKUP_NAME = re.compile(r"teddy-(\d{8}T\d{6})Z-[0-9a-f]{6}\.db")
TIME_FORMAT = "%Y%m%dT%H%M%S"


def backup_dir_for(db_path: str | Path, configured: str | Path | None = None) -> Path:
    """The configured directory, or one beside the database so every tool agrees on it."""
    return Path(configured) if configured else Path(f"{db_path}.backups")


PARTIAL_SUFFIX = ".partial"
# Pages copied per step of SQLite's backup API; between steps the live database is free.
STEP_PAGES = 4096


def _copy_progress(_status: int, _remaining: int, _total: int) -> None:
    """Called by SQLite after each step of a backup."""


def create_backup(db_path: str | Path, backup_dir: str | Path, now: float) -> Path:
    """Copy the database into `backup_dir`; a failure (full disk, kill) leaves no usable-looking
    file behind, and whatever a killed backup left is removed by the next one or a purge.

    The copy is written as `<name>.partial` under an exclusive flock and renamed only when
    complete; an unlocked `.partial` therefore belongs to a backup that died.
    """
    if not Path(db_path).exists():
        raise FileNotFoundError(f"no database at {db_path}")
    target_dir = Path(backup_dir)
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale_partials(target_dir)
    stamp = datetime.fromtimestamp(now, UTC).strftime(TIME_FORMAT)
    final = target_dir / f"teddy-{stamp}Z-{secrets.token_hex(3)}.db"
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        source = connect(str(db_path))
        try:
            target = sqlite3.connect(partial)
            try:
                source.conn.backup(target, pages=STEP_PAGES, progress=_copy_progress)
                # The copy carries the live file's WAL flag; a backup must be one file.
                target.execute("PRAGMA journal_mode=DELETE")
                _leave_out_server_secrets(target)
            finally:
                target.close()
        finally:
            source.close()
        drop_erased_children(partial, str(db_path))
        os.fsync(fd)
        partial.rename(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        Path(f"{partial}-journal").unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    # An erasure that began while the copy was made listed the backups before this one
    # existed, and may have destroyed the key after the check above: look again, now that any
    # erasure's own backup step can also see this file.
    drop_erased_children(final, str(db_path))
    return final


def drop_erased_children(path: Path, db_path: str) -> int:
    """Remove from one backup every child the key store names as erased (its tombstones);
    returns how many it held."""
    erased = set(store_for_path(db_path).tombstones())
    if not erased:
        return 0
    copy = open_backup(path)
    try:
        held = sorted(erased & {int(r[0]) for r in copy.execute("SELECT id FROM children")})
    finally:
        copy.close()
    for child_id in held:
        rewrite_backup(path, child_id)
    return len(held)


def _leave_out_server_secrets(copy: sqlite3.Connection) -> None:
    """A backup is for restoring data, not for signing session cookies: a copy that leaks
    must not carry the key every app server trusts. A restored database makes a new key
    (cloud.fleet.session_key), which signs everyone out: the safe direction."""
    if copy.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                    "AND name = 'server_secrets'").fetchone() is None:
        return
    copy.execute("PRAGMA secure_delete=ON")  # zero the freed bytes, not just unlink them
    copy.execute("DELETE FROM server_secrets")
    copy.commit()


def remove_stale_partials(backup_dir: str | Path) -> int:
    """Delete `.partial` copies (and their journals) that no running backup holds locked."""
    directory = Path(backup_dir)
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.glob(f"*{PARTIAL_SUFFIX}"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a backup is writing it right now
            path.unlink(missing_ok=True)
            Path(f"{path}-journal").unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


@dataclass(frozen=True)
class BackupFile:
    path: Path
    taken_at: float


def list_backups(backup_dir: str | Path) -> list[BackupFile]:
    directory = Path(backup_dir)
    if not directory.is_dir():
        return []
    found: list[BackupFile] = []
    for path in sorted(directory.iterdir()):
        match = BACKUP_NAME.fullmatch(path.name)
        if match:
            taken = datetime.strptime(match.group(1), TIME_FORMAT).replace(tzinfo=UTC)
            found.append(BackupFile(path, taken.timestamp()))
    return found


def open_backup(path: Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA secure_delete=ON")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def compact(db: sqlite_utils.Database) -> None:
    """Rewrite the file from its live rows only, so no freed page survives in it."""
    db.execute("VACUUM")


@dataclass(frozen=True)
class BackupPurge:
    deleted: int
    rewritten: int
    rows: int


def purge_backups(backup_dir: str | Path, now: float) -> BackupPurge:
    """Delete backups past their retention; drop expired rows from the younger ones."""
    from cloud.retention.purge import delete_expired

    keep_s = backup_retention_days() * DAY_S
    deleted = rewritten = rows = 0
    remove_stale_partials(backup_dir)
    for backup in list_backups(backup_dir):
        if backup.taken_at <= now - keep_s:
            backup.path.unlink()
            deleted += 1
            continue
        db = open_backup(backup.path)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                removed = sum(delete_expired(db, now)[0].values())
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if removed:
                compact(db)
                rewritten += 1
                rows += removed
        finally:
            db.close()
    return BackupPurge(deleted, rewritten, rows)


def _holds_child(copy: sqlite_utils.Database, child_id: int) -> bool:
    return copy.execute("SELECT 1 FROM children WHERE id = ?", [child_id]).fetchone() is not None


def rewrite_backup(path: Path, child_id: int) -> bool:
    """Remove the child from one backup; True if it held the child. Safe to repeat."""
    copy = open_backup(path)
    try:
        if not _holds_child(copy, child_id):
            return False
        copy.execute("BEGIN IMMEDIATE")
        try:
            delete_child_rows(copy, child_id, erase_plan(copy))
        except BaseException:
            copy.execute("ROLLBACK")
            raise
        copy.execute("COMMIT")
        compact(copy)
        return True
    finally:
        copy.close()
