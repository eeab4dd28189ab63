"""Backups that obey the same retention and erasure rules as the live database (R19).

A backup is a copy made with SQLite's online backup API, so it is consistent while the cloud
keeps serving. It is named after the cloud clock's time, which is how its age is judged, so a
scenario that moves the clock ages its backups too. Backups expire after the shortest
retention of any personal child data (`policy.backup_retention_days`); until then every purge
applies the live expiry rules to them, and every erasure rewrites the ones holding the child.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from cloud.retention.policy import DAY_S, backup_retention_days
from cloud.storage.db import connect

BACKUP_NAME = re.compile(r"teddy-(\d{8}T\d{6})Z-[0-9a-f]{6}\.db")
TIME_FORMAT = "%Y%m%dT%H%M%S"


def backup_dir_for(db_path: str | Path, configured: str | Path | None = None) -> Path:
    """The configured directory, or one beside the database so every tool agrees on it."""
    return Path(configured) if configured else Path(f"{db_path}.backups")


def create_backup(db_path: str | Path, backup_dir: str | Path, now: float) -> Path:
    if not Path(db_path).exists():
        raise FileNotFoundError(f"no database at {db_path}")
    target_dir = Path(backup_dir)
    target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(now, UTC).strftime(TIME_FORMAT)
    final = target_dir / f"teddy-{stamp}Z-{secrets.token_hex(3)}.db"
    partial = final.with_name(final.name + ".partial")
    source = connect(str(db_path))
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    target = sqlite3.connect(partial)
    try:
        source.conn.backup(target)
        # The copy carries the live file's WAL flag; a backup must be one self-contained file.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    partial.rename(final)
    return final


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
