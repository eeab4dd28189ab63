"""The cloud's database seen from outside: opened read-only, never through the cloud's code.

Checks write their SQL once, with `?` placeholders and "double-quoted" identifiers, and it
runs on either backend: a SQLite file opened with mode=ro, or a PostgreSQL database in a
read-only transaction (the session default too, so nothing a check sends can write). Table
and column lists come from sqlite_master and PRAGMA table_info on SQLite, and from
information_schema on PostgreSQL.

The raw-file scans at the end are SQLite's alone: a PostgreSQL server's files are not the
cloud's, and its WAL keeps erased bytes (see scenarios/backend.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from scenarios.backend import Backend, database_backend


class Rows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class ReadOnlyDatabase(Protocol):
    backend: Backend

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...


class _SqliteView:
    backend: Backend = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        return self.connection.execute(sql, list(params))


def to_format_placeholders(sql: str) -> str:
    """`?` placeholders as psycopg's `%s`, leaving quoted text and identifiers alone; a
    literal `%` is doubled so psycopg does not read it as a placeholder."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


class _PostgresView:
    backend: Backend = "postgresql"

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        cursor = self.connection.cursor()
        cursor.execute(to_format_placeholders(sql), list(params))
        return cursor  # type: ignore[no-any-return]


@contextmanager
def _sqlite_read_only(db_path: Path) -> Iterator[ReadOnlyDatabase]:
    if not db_path.exists():
        raise FileNotFoundError(f"no database at {db_path}")
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        yield _SqliteView(connection)
    finally:
        connection.close()


@contextmanager
def _postgres_read_only(url: str) -> Iterator[ReadOnlyDatabase]:
    import psycopg

    # Read-only twice over: the session's default, and this transaction itself.
    connection = psycopg.connect(url, options="-c default_transaction_read_only=on",
                                 connect_timeout=10)
    try:
        connection.execute("SET TRANSACTION READ ONLY")
        yield _PostgresView(connection)
    finally:
        try:
            connection.rollback()
        finally:
            connection.close()


@contextmanager
def read_only(database: str | Path) -> Iterator[ReadOnlyDatabase]:
    """The cloud's database (its `--db` value: a SQLite path or a postgresql:// URL),
    opened so that nothing can be written through it."""
    if database_backend(database) == "postgresql":
        with _postgres_read_only(str(database)) as view:
            yield view
    else:
        with _sqlite_read_only(Path(database)) as view:
            yield view


def tables(db: ReadOnlyDatabase) -> list[str]:
    if db.backend == "postgresql":
        sql = ("SELECT table_name FROM information_schema.tables WHERE table_schema = "
               "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")
    else:
        sql = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
               "'sqlite_%' ORDER BY name")
    return [str(row[0]) for row in db.execute(sql)]


def columns(db: ReadOnlyDatabase, table: str) -> list[str]:
    if db.backend == "postgresql":
        return [str(row[0]) for row in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position", [table])]
    return [str(row[1]) for row in db.execute(f"PRAGMA table_info({quoted(table)})")]


def quoted(identifier: str) -> str:
    """An identifier quoted the standard way, which both backends read."""
    return '"' + identifier.replace('"', '""') + '"'


def guard_triggers(db: ReadOnlyDatabase, table: str) -> set[str]:
    """The statements (UPDATE, DELETE...) that triggers on `table` stand guard over."""
    if db.backend == "postgresql":
        return {str(row[0]).upper() for row in db.execute(
            "SELECT event_manipulation FROM information_schema.triggers WHERE "
            "event_object_schema = current_schema() AND event_object_table = ?", [table])}
    sql = [str(row[0]).upper() for row in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [table])]
    return {event for event in ("INSERT", "UPDATE", "DELETE")
            if any(f"BEFORE {event}" in text or f"AFTER {event}" in text for text in sql)}


def dump(database: str | Path, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in a stable order: equal dumps mean nothing changed."""
    with read_only(database) as db:
        return {table: sorted((tuple(row) for row in db.execute(
                    f"SELECT * FROM {quoted(table)}").fetchall()), key=repr)
                for table in tables(db) if table not in skip}


def find_in_rows(database: str | Path, needles: list[str]) -> list[str]:
    """`table: needle` for every needle held in any row (text and bytes), ignoring case."""
    found: list[str] = []
    for table, rows in dump(database).items():
        text = " ".join(_as_text(value) for row in rows for value in row).lower()
        found += [f"{table}: {needle!r}" for needle in needles if needle.lower() in text]
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def raw_files(db_path: Path, backup_dir: Path | None) -> list[Path]:
    """The database, its WAL, journal and shared-memory files, and every backup (SQLite)."""
    files = [Path(f"{db_path}{suffix}") for suffix in ("", "-wal", "-journal", "-shm")]
    found = [path for path in files if path.is_file()]
    if backup_dir is not None and backup_dir.is_dir():
        found += sorted(path for path in backup_dir.rglob("*") if path.is_file())
    return found


def find_in_files(paths: list[Path], needles: list[str]) -> list[str]:
    """`file: needle` for every needle found in the raw bytes, ignoring letter case."""
    found: list[str] = []
    wanted = [(needle, needle.lower().encode("utf-8")) for needle in needles]
    for path in paths:
        data = path.read_bytes().lower()
        found += [f"{path.name}: {needle!r}" for needle, raw in wanted if raw in data]
    return found


def copies_left(cloud: Any, needles: list[str]) -> tuple[list[str], str]:
    """Where copies of the values remain, and where was looked: on SQLite the raw bytes of
    the database, WAL and backups; on PostgreSQL every row of every table (its files are
    not the cloud's to scan, see scenarios/backend.py)."""
    if cloud.backend == "postgresql":
        return find_in_rows(cloud.database, needles), "every row of every table"
    files = raw_files(cloud.db_path, cloud.backup_dir)
    return find_in_files(files, needles), f"the raw bytes of {len(files)} files"


def visible_dump(ctx: Any, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]] | None:
    """`dump` when the target lets us see its database; None for a black-box cloud, whose
    "changed nothing" cannot be checked (the runner says so in the evidence)."""
    from scenarios.target import CLOUD_INTERNALS

    if CLOUD_INTERNALS not in ctx.target.access:
        return None
    return dump(ctx.cloud.database, skip)
