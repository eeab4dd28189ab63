"""Before a cloud serves: its key store belongs to its data, and every erasure it names holds.

Two things can put a database out of step with its key store, and both are dealt with at every
start (the server's, and a purge's), before anything is served:

- A lost or wrong key store: sealed data whose child has neither a key nor a tombstone in the
  store. Starting anyway would make each such child a fresh key, splitting its data between
  keys, and give 500 on every page that opens the old values; so the start is refused with one
  sentence naming the store (`KeyStoreLost`).
- A restored backup (a pg_dump, an SQLite copy) taken before an erasure: the erased child is
  back in the data, but its tombstone is in the key store, which no data backup contains.
  Every such erasure is redone (its rows go, its job finishes in the background as any other),
  and the children id sequence is moved past every erased id, so a new child can never be
  given an erased child's id (and with it a tombstone that would erase it at the next start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from cloud.keys.fields import sealed_columns
from cloud.keys.location import KeyStoreConfigError
from cloud.keys.store import KeyStore, store_for
from cloud.retention import jobs
from cloud.retention.backup import backup_dir_for
from cloud.storage.db import is_postgres

REASON_TOMBSTONE = "erased_before_restore"
# Children named in one IN (...) list: well under both backends' parameter limits.
BATCH = 500
MAX_NAMED = 3


class KeyStoreLost(KeyStoreConfigError):
    """Sealed data whose keys the key store does not hold: lost, emptied, or not this data's."""


def children_with_sealed_data(db: sqlite_utils.Database) -> set[int]:
    live = set(db.table_names())
    holders: set[int] = set()
    for table, columns in sealed_columns().items():
        if table not in live:
            continue
        owner = "id" if table == "children" else "child_id"
        present = " OR ".join(f'"{c}" IS NOT NULL' for c in columns)
        holders |= {int(r[0]) for r in db.execute(
            f'SELECT DISTINCT "{owner}" FROM "{table}" WHERE {present}')}
    return holders


def require_keys_for_sealed_data(db: sqlite_utils.Database, store: KeyStore) -> None:
    """KeyStoreLost unless every child with sealed data has a key or a tombstone here."""
    holders = children_with_sealed_data(db)
    if not holders:
        return
    # A store file that is gone is not made again here: it would look like a store.
    missing = sorted(holders - (store.known_children() if store.exists() else set()))
    if not missing:
        return
    named = ", ".join(str(c) for c in missing[:MAX_NAMED])
    more = f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else ""
    where = store.location if store.exists() else f"{store.location} (missing)"
    raise KeyStoreLost(
        f"the key store {where} holds no key for {len(missing)} children whose data is "
        f"sealed (child {named}{more}): it was lost, emptied or is not this database's; "
        "restore it or give the right --key-store (a new empty one would leave their data "
        "unreadable and split it between keys)")


def _move_id_sequence_past(db: sqlite_utils.Database, highest: int) -> None:
    if is_postgres(db):
        db.execute("SELECT setval(pg_get_serial_sequence('children', 'id'), "
                   "GREATEST(?, (SELECT COALESCE(MAX(id), 1) FROM children)))", [highest])
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'children', 0 "
                   "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'children')")
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'children' AND seq < ?",
                   [highest, highest])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@dataclass(frozen=True)
class Replay:
    tombstones: int
    erasures_redone: list[str]


def erased_children_present(db: sqlite_utils.Database, erased: list[int]) -> list[int]:
    present: list[int] = []
    for start in range(0, len(erased), BATCH):
        batch = erased[start:start + BATCH]
        marks = ", ".join("?" for _ in batch)
        present += [int(r[0]) for r in db.execute(
            f"SELECT id FROM children WHERE id IN ({marks}) ORDER BY id", batch)]
    return present


def redo_erasures(db: sqlite_utils.Database, *, db_path: str, now: float,
                  backup_dir: str | Path | None) -> Replay:
    """Erase again every child the key store's tombstones name that the data holds again."""
    store = store_for(db)
    erased = store.tombstones()
    if not erased:
        return Replay(0, [])
    _move_id_sequence_past(db, max(erased))
    redone = []
    for child_id in erased_children_present(db, erased):
        job = jobs.begin_erasure(db, child_id=child_id, parent_id=None, now=now,
                                 db_path=db_path, reason=REASON_TOMBSTONE,
                                 backup_dir=backup_dir_for(db_path, backup_dir))
        redone.append(job.job_id)
    return Replay(len(erased), redone)


def before_serving(db: sqlite_utils.Database, *, db_path: str, now: float,
                   backup_dir: str | Path | None) -> Replay:
    """Refuse a key store that does not hold this data's keys, then redo restored erasures."""
    require_keys_for_sealed_data(db, store_for(db))
    return redo_erasures(db, db_path=db_path, now=now, backup_dir=backup_dir)
