"""What the cloud keeps on disk is readable by its own user only, and is what it claims to be.

The database, its -wal and -shm, the backups and the key files hold children's data and device
secrets, so they are created 0600 in folders made 0700, and files found looser than that (from
an older Teddy or a careless copy) are tightened, with a warning, when the cloud opens them.
Before any command touches a file it checks that it is an SQLite database of a schema this
code knows, so a wrong path or a damaged file gets one clear sentence, not a traceback, and
nothing is created beside it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077
SQLITE_HEADER = b"SQLite format 3\x00"
# Files and folders beside the database that hold its data, keys or locks.
COMPANION_FILES = ("", "-wal", "-shm", "-journal", ".key", "-writers", ".purge.lock",
                   ".erasure.lock")
COMPANION_DIRS = (".backups", ".erasure", ".tls")


class DatabaseFileError(Exception):
    """The path is not a usable Teddy database; the message says why in one sentence."""


def create_private_file(path: str | Path) -> None:
    """Create an empty file 0600 if none exists, so SQLite's -wal and -shm inherit the mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def _tighten(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except FileNotFoundError:
        return
    if path.is_symlink() or not mode & PRIVATE_UMASK:
        return
    try:
        os.chmod(path, mode & ~PRIVATE_UMASK)
        log.warning("%s was readable by other users (mode %o); tightened to %o", path, mode,
                    stat.S_IMODE(path.stat().st_mode))
    except OSError as exc:
        log.warning("%s is readable by other users (mode %o) and could not be tightened: %s",
                    path, mode, exc.strerror)


def tighten_existing(db_path: str | Path) -> None:
    """Tighten the database's files and folders (and what the folders hold) to owner-only."""
    base = str(db_path)
    for suffix in COMPANION_FILES:
        _tighten(Path(base + suffix))
    for suffix in COMPANION_DIRS:
        folder = Path(base + suffix)
        if folder.is_dir() and not folder.is_symlink():
            _tighten(folder)
            for item in folder.iterdir():
                _tighten(item)


def check_database(path: str | Path, *, must_exist: bool = True) -> None:
    """Raise DatabaseFileError unless `path` is (or, with must_exist False, may become) a Teddy
    database this code can open. Reads only; creates nothing."""
    from cloud.storage.migrations import LATEST_VERSION
    from cloud.storage.url import backend_of, sqlite_path

    try:
        if backend_of(str(path)) == "postgresql":
            _check_postgres(str(path), must_exist=must_exist)
            return
        target = Path(sqlite_path(str(path)))
    except ValueError as exc:
        raise DatabaseFileError(str(exc)) from exc
    if not target.exists():
        if must_exist:
            raise DatabaseFileError(f"no database at {target}")
        if not target.parent.is_dir():
            raise DatabaseFileError(f"no folder {target.parent} to create the database in")
        return
    if target.is_dir():
        raise DatabaseFileError(f"{target} is a folder, not a database file")
    try:
        with target.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseFileError(f"cannot read {target}: {exc.strerror}") from exc
    if not header and not must_exist:
        return  # an empty file becomes a new database
    if header != SQLITE_HEADER:
        raise DatabaseFileError(f"{target} is not a Teddy database (not an SQLite file)")
    try:
        # With no -wal beside it, read the file as it stands: a read-only open of a WAL-mode
        # file would otherwise create -wal and -shm next to something that may not be ours.
        immutable = "" if Path(f"{target}-wal").exists() else "&immutable=1"
        conn = sqlite3.connect(f"file:{quote(str(target))}?mode=ro{immutable}", uri=True,
                               timeout=5)
        try:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = 0
            if "schema_migrations" in tables:
                version = int(conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseFileError(f"{target} is damaged or not a Teddy database ({exc})") from exc
    if tables and "schema_migrations" not in tables:
        raise DatabaseFileError(f"{target} is an SQLite database, but not Teddy's")
    if version > LATEST_VERSION:
        raise DatabaseFileError(
            f"{target} has schema version {version}, newer than this Teddy knows "
            f"({LATEST_VERSION}); upgrade Teddy before using it")


def _check_postgres(url: str, *, must_exist: bool) -> None:
    """The PostgreSQL equivalent: the server answers, and the database is empty (a new one)
    or Teddy's, of a schema this code knows. Reads only."""
    import psycopg

    from cloud.storage.migrations import LATEST_VERSION
    from cloud.storage.postgres import CONNECT_TIMEOUT_S
    from cloud.storage.url import redacted

    shown = redacted(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
            version = 0
            if "schema_migrations" in tables:
                version = int(conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseFileError(f"cannot use PostgreSQL database {shown}: {reason}") from exc
    if not tables and must_exist:
        raise DatabaseFileError(f"{shown} holds no Teddy database (no tables)")
    if tables and "schema_migrations" not in tables:
        raise DatabaseFileError(f"{shown} is a PostgreSQL database, but not Teddy's")
    if version > LATEST_VERSION:
        raise DatabaseFileError(
            f"{shown} has schema version {version}, newer than this Teddy knows "
            f"({LATEST_VERSION}); upgrade Teddy before using it")
