"""Which database the cloud under test keeps its data in, and one fresh database per story.

`teddy scenarios run --backend sqlite` (the default) gives each story a SQLite file in its own
folder, as the cloud is run on one machine. `--backend postgresql` starts one private
PostgreSQL server for the run (a throwaway cluster on a Unix socket) and gives each story a
database of its own on it, so stories stay as independent as they are on SQLite.

Some checks are about SQLite's files and nothing else. They are declared here, with the reason,
and reported "not applicable" on PostgreSQL; nowhere else may decide that a check does not
apply, so a check that can be made is always made (see the runner).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from cloud.keys.location import default_key_store
from cloud.storage.url import backend_of

Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")

# Why a byte scan of a PostgreSQL server's files cannot prove an erasure (measured on
# PostgreSQL 15, see issue 18 and docs/scenarios.md).
POSTGRES_KEEPS_BYTES = (
    "not applicable on PostgreSQL: the server's files are not the cloud's to scan; after "
    "DELETE and VACUUM FULL a value stays in WAL segment files (recycled segments are renamed, "
    "not zeroed) until about 24 MB of later WAL overwrite it, and WAL archives, replicas and "
    "base backups keep it as long as they are kept. On PostgreSQL erasure is proved by the "
    "child's rows being gone and by the destroyed per-child key, not by a byte scan")

# Check kinds whose whole observation is SQLite's files (database, WAL, journal, backups).
SQLITE_FILE_CHECKS: dict[str, str] = {
    "canary_absent_from_files": POSTGRES_KEEPS_BYTES,
}
# Steps that only set up what those checks scan, and which PostgreSQL does not have: the
# story goes on without them (the report's log says so).
SQLITE_ONLY_STEPS: dict[str, str] = {
    "backup": "skipped on PostgreSQL: `teddy cloud backup` copies a SQLite file; a PostgreSQL "
              "server is backed up by pg_dump or pg_basebackup, whose copies are the "
              "operator's, not files the cloud writes and rewrites on erasure",
}
# Check kinds that may find on their own that they cannot be made here (unit tests need the
# source tree's tests/ folder). Any other check answering "not applicable" is an error.
SELF_DECLARED_NOT_APPLICABLE = frozenset({"unit_test"})


def not_applicable_reason(kind: str, backend: Backend) -> str | None:
    """Why this kind of check cannot be made against this backend, or None when it can."""
    if backend == "postgresql":
        return SQLITE_FILE_CHECKS.get(kind)
    return None


def step_skipped_because(action: str, backend: Backend) -> str | None:
    if backend == "postgresql":
        return SQLITE_ONLY_STEPS.get(action)
    return None


def may_declare_itself_not_applicable(kind: str, backend: Backend) -> bool:
    return kind in SELF_DECLARED_NOT_APPLICABLE or not_applicable_reason(kind, backend) is not None


def database_backend(database: str | Path) -> Backend:
    """The backend of a cloud's `--db` value (a SQLite path or URL, or a postgresql:// URL)."""
    return backend_of(str(database))


class StoryDatabases(Protocol):
    backend: Backend

    def for_story(self, name: str, workdir: Path) -> str:
        """A new, empty database for one story: the value to give the cloud's `--db`."""

    def release(self, database: str) -> None:
        """Remove a story's database once its story is over."""

    def describe(self) -> str: ...

    def __enter__(self) -> StoryDatabases: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class SqliteFiles:
    """A SQLite file in each story's own folder (removed with the folder)."""

    backend: Backend = "sqlite"

    def for_story(self, name: str, workdir: Path) -> str:
        return str(workdir / "cloud.db")

    def release(self, database: str) -> None:
        return None

    def describe(self) -> str:
        return "SQLite (one file per story)"

    def __enter__(self) -> SqliteFiles:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


class PostgresDatabases:
    """One private PostgreSQL server for the run, a fresh database on it for each story."""

    backend: Backend = "postgresql"

    def __init__(self) -> None:
        from cloud.storage.throwaway_postgres import ThrowawayPostgres

        self.server = ThrowawayPostgres()
        self.version = ""
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PostgresDatabases:
        self.server.start()
        try:
            self.version = self.server.psql("SHOW server_version")
        except BaseException:
            self.server.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.stop()

    def for_story(self, name: str, workdir: Path) -> str:
        # Database names are letters, digits and _; the story's name is only a readable hint.
        hint = "".join(c if c.isalnum() else "_" for c in name.lower())[:24]
        database = f"story_{hint}_{uuid.uuid4().hex[:8]}"
        url = self.server.create_database(database)
        with self._lock:
            self._names[url] = database
        return url

    def release(self, database: str) -> None:
        with self._lock:
            name = self._names.pop(database, None)
        if name is not None:
            with contextlib.suppress(RuntimeError):
                self.server.drop_database(name)
            # The cloud keeps its per-child keys in a file of their own (cloud.keys.location);
            # it goes with the story too.
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(default_key_store(database) + suffix).unlink(missing_ok=True)

    def describe(self) -> str:
        return (f"PostgreSQL {self.version} (a private server for the run on a Unix socket, "
                "one database per story)")


def story_databases(backend: Backend) -> StoryDatabases:
    if backend == "postgresql":
        return PostgresDatabases()
    return SqliteFiles()
