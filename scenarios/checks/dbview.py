"""The cloud's database seen from outside: opened read-only, never through the cloud's code."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    if not db_path.exists():
        raise FileNotFoundError(f"no database at {db_path}")
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        yield connection
    finally:
        connection.close()


def tables(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]


def columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f"PRAGMA table_info([{table}])")]


def dump(db_path: Path, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in a stable order: equal dumps mean nothing changed."""
    with read_only(db_path) as connection:
        return {table: sorted(connection.execute(f"SELECT * FROM [{table}]").fetchall(), key=repr)
                for table in tables(connection) if table not in skip}


def raw_files(db_path: Path, backup_dir: Path | None) -> list[Path]:
    """The database, its WAL, journal and shared-memory files, and every backup."""
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


def visible_dump(ctx: Any, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]] | None:
    """`dump` when the target lets us see its database; None for a black-box cloud, whose
    "changed nothing" cannot be checked (the runner says so in the evidence)."""
    from scenarios.target import CLOUD_INTERNALS

    if CLOUD_INTERNALS not in ctx.target.access:
        return None
    return dump(ctx.cloud.db_path, skip)
