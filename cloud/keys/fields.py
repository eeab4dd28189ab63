"""Sealing and opening the data map's `sealed` columns with the right child's key.

Every write of a sealed column goes through `seal_value`, every read through `open_value` or
`open_row`, so which columns are sealed is decided in one place: the data map. A sealed
column holding anything but a sealed value is an error, never shown as it is: a plaintext
value there is exactly what crypto-shredding must not allow.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlite_utils

from cloud.keys.envelope import open_sealed, seal
from cloud.keys.store import store_for
from cloud.seam import seam_point
from teddy.contracts.data_map import data_map

CHILD_KEY = "child_id"


class _Spent(threading.local):
    seconds = 0.0
    operations = 0


_spent = _Spent()


@contextmanager
def _timed() -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        _spent.seconds += time.perf_counter() - started
        _spent.operations += 1


def crypto_time() -> tuple[float, int]:
    """Seconds spent sealing and opening (key look-ups included) in this thread, and how many
    values; the benchmark reads it around each request."""
    return _spent.seconds, _spent.operations


@functools.cache
def sealed_columns() -> dict[str, tuple[str, ...]]:
    return data_map().sealed_columns()


def is_sealed_column(table: str, column: str) -> bool:
    return column in sealed_columns().get(table, ())


def _check(table: str, column: str) -> None:
    if not is_sealed_column(table, column):
        raise ValueError(f"{table}.{column} is not a sealed column in the data map")


def child_of(table: str, row: dict[str, Any]) -> int:
    """The child a row is about: the children table's own id, elsewhere its child_id."""
    return int(row["id"] if table == "children" else row[CHILD_KEY])


@seam_point("seal_value")
def seal_value(db: sqlite_utils.Database, child_id: int, table: str, column: str,
               value: str | None, now: float | None = None) -> str | None:
    if value is None:
        return None
    _check(table, column)
    with _timed():
        key = store_for(db).cipher_or_create(child_id, time.time() if now is None else now)
        return seal(key, value, child_id=child_id, table=table, column=column)


def open_value(db: sqlite_utils.Database, child_id: int, table: str, column: str,
               value: str | None) -> str | None:
    if value is None:
        return None
    _check(table, column)
    with _timed():
        key = store_for(db).cipher(child_id)
        return open_sealed(key, value, child_id=child_id, table=table, column=column)


def open_row(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its sealed columns opened; other columns as they are."""
    columns = [c for c in sealed_columns().get(table, ()) if row.get(c) is not None]
    if not columns:
        return row
    child_id = child_of(table, row)
    return {**row, **{c: open_value(db, child_id, table, c, row[c]) for c in columns}}
