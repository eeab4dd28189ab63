"""Turning a purpose off erases, at once, what was kept only for it (R12, R29).

A withdrawn consent that leaves its data in place is the flaw the FTC found at Amazon: the
switch says "off" and the name, the favourites and the history stay, on disk and in use. Here
the consent row is closed and the data goes in the same transaction, so there is no moment
where one is true without the other. What counts as "kept only for" a purpose comes from the
data map, not from a list in this file: a table whose every column serves the purpose loses
the child's rows, a row that declares its own purpose goes when that purpose does, and a
field of the child's record that serves only the purpose is cleared. Afterwards the WAL is
checkpointed and truncated, so with secure_delete on the erased bytes are gone from every
file (as R19 asks of a deletion), and each backup holding such data is rewritten without it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from cloud import audit, consent
from cloud.keys.fields import open_value, seal_value
from cloud.keys.store import store_for, use_store
from cloud.retention import backup as backups
from cloud.retention.checkpoint import checkpoint_truncate
from cloud.seam import seam_point
from cloud.storage.db import in_transaction, is_postgres
from teddy.contracts.data_map import data_map

CHILD_KEY = "child_id"
ROW_PURPOSE = "purpose"
# Records the erasure itself relies on: consents are the proof of the withdrawal (R08) and the
# audit log is append-only (R27). Neither holds what the child said.
NEVER_ERASED_BY_REVOCATION = frozenset({"consents", "audit_log"})
# What the parent reads for each table the erasure touched.
PLAIN_NAMES = {
    "profile_facts": ("thing Teddy remembered", "things Teddy remembered"),
    "intent_events": ("history entry", "history entries"),
    "children.first_name": ("first name you typed in", "first names you typed in"),
    "intent_events.slots_json": ("detail removed from the history",
                                 "details removed from the history"),
}
# A column of JSON slots: each slot declares its own purpose in the data map's `slots`.
SLOTS_COLUMN = "slots_json"


@dataclass(frozen=True)
class ErasurePlan:
    """For one purpose: tables emptied of the child, row-purpose tables, fields cleared."""
    whole_tables: tuple[str, ...]
    row_purpose_tables: tuple[str, ...]
    child_fields: tuple[str, ...]
    # Tables kept for another purpose whose slot column may hold slots of this purpose, as a
    # history entry of "my name is ..." holds the name.
    slot_tables: tuple[str, ...] = ()


@dataclass
class RevocationResult:
    purposes: list[str] = field(default_factory=list)
    # "table" or "table.column" -> how many rows or values were erased
    erased: dict[str, int] = field(default_factory=dict)
    checkpoint_complete: bool = True
    backups_rewritten: int = 0

    def __bool__(self) -> bool:
        return bool(self.purposes)

    def summary(self) -> str:
        """What the parent is told: counts in plain words, never the values themselves."""
        parts = []
        for key, count in self.erased.items():
            if count:
                one, many = PLAIN_NAMES.get(key, (key.replace("_", " "), key.replace("_", " ")))
                parts.append(f"{count} {one if count == 1 else many}")
        if not parts:
            return "Nothing had been kept for it, so nothing needed erasing."
        return "Erased at once: " + ", ".join(parts) + "."


def plan_for(db: sqlite_utils.Database, purpose: str) -> ErasurePlan:
    dmap = data_map()
    live = set(db.table_names())
    whole, by_row, fields, slot_tables = [], [], [], []
    for table, spec in dmap.tables.items():
        if table not in live or table in NEVER_ERASED_BY_REVOCATION:
            continue
        columns = spec["columns"]
        if table == "children":
            nullable = {c.name for c in db[table].columns if not c.notnull and not c.is_pk}
            fields += [c for c, s in columns.items() if s["purpose"] == purpose and c in nullable]
            continue
        if CHILD_KEY not in columns:
            continue
        if all(s["purpose"] == purpose for s in columns.values()):
            whole.append(table)
            continue
        if ROW_PURPOSE in columns:
            by_row.append(table)
        if SLOTS_COLUMN in columns:
            slot_tables.append(table)
    return ErasurePlan(tuple(whole), tuple(by_row), tuple(fields), tuple(slot_tables))


@seam_point("strip_history_slots")
def _strip_slots(db: sqlite_utils.Database, table: str, child_id: int, purpose: str) -> int:
    """Remove the purpose's slots from the child's rows; returns how many rows changed."""
    of_purpose = {name for name, rule in data_map().slots.items() if rule.purpose == purpose}
    changed = 0
    rows = db.execute(f"SELECT id, \"{SLOTS_COLUMN}\" FROM \"{table}\" "
                      f"WHERE \"{CHILD_KEY}\" = ?", [child_id]).fetchall()
    for row_id, sealed in rows:
        slots = json.loads(open_value(db, child_id, table, SLOTS_COLUMN, sealed) or "{}")
        kept = {k: v for k, v in slots.items() if k not in of_purpose}
        if kept != slots:
            resealed = seal_value(db, child_id, table, SLOTS_COLUMN,
                                  json.dumps(kept, sort_keys=True))
            db.execute(f"UPDATE \"{table}\" SET \"{SLOTS_COLUMN}\" = ? WHERE id = ?",
                       [resealed, row_id])
            changed += 1
    return changed


@seam_point("erase_kept_for")
def erase_kept_for(db: sqlite_utils.Database, *, child_id: int, purpose: str
                   ) -> dict[str, int]:
    """Delete, inside the caller's transaction, what the child has only for `purpose`."""
    plan = plan_for(db, purpose)
    erased: dict[str, int] = {}
    for table in plan.whole_tables:
        erased[table] = db.execute(f"DELETE FROM \"{table}\" WHERE \"{CHILD_KEY}\" = ?",
                                   [child_id]).rowcount
    for table in plan.row_purpose_tables:
        count = db.execute(f"DELETE FROM \"{table}\" WHERE \"{CHILD_KEY}\" = ? "
                           f"AND \"{ROW_PURPOSE}\" = ?",
                           [child_id, purpose]).rowcount
        erased[table] = erased.get(table, 0) + count
    for table in plan.slot_tables:
        erased[f"{table}.{SLOTS_COLUMN}"] = _strip_slots(db, table, child_id, purpose)
    for column in plan.child_fields:
        erased[f"children.{column}"] = db.execute(
            f"UPDATE children SET \"{column}\" = NULL WHERE id = ? AND \"{column}\" IS NOT NULL",
            [child_id]).rowcount
    return erased


def revoke_and_erase(db: sqlite_utils.Database, *, child_id: int, parent_id: int,
                     purposes: Iterable[str], now: float) -> RevocationResult:
    """Turn off each purpose that is on and erase what it kept, all or nothing.

    The audit log records each erasure with counts only (R27). Call outside a transaction:
    this commits, then checkpoints so the erased bytes leave the WAL and the file.
    """
    if in_transaction(db):
        raise RuntimeError("revoke_and_erase commits itself; call it outside a transaction")
    result = RevocationResult()
    db.execute("BEGIN IMMEDIATE")
    try:
        for purpose in sorted(set(purposes)):
            if not consent.revoke(db, child_id=child_id, parent_id=parent_id, purpose=purpose,
                                  now=now):
                continue
            result.purposes.append(purpose)
            erased = {key: n for key, n in
                      erase_kept_for(db, child_id=child_id, purpose=purpose).items() if n}
            for key, count in erased.items():
                result.erased[key] = result.erased.get(key, 0) + count
            audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id),
                         action="consent.revoke.erase",
                         subject=audit.subject_ref("child", child_id),
                         details={"purpose": purpose, "rows": erased})
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if any(result.erased.values()):
        result.checkpoint_complete = checkpoint_truncate(db).complete
        result.backups_rewritten = erase_from_backups(db, child_id, result.purposes)
    return result


def _backup_dir(db: sqlite_utils.Database) -> Path:
    """The running cloud's configured backup directory, or the default beside the file."""
    db_path = db.execute("PRAGMA database_list").fetchone()[2]
    configured = None
    flask = sys.modules.get("flask")
    if flask is not None and flask.has_app_context():
        config = flask.current_app.config.get("TEDDY")
        configured = getattr(config, "backup_dir", None)
    return backups.backup_dir_for(db_path, configured)


def erase_from_backups(db: sqlite_utils.Database, child_id: int, purposes: list[str]) -> int:
    """Rewrite each backup that holds data kept for the purposes; returns how many were.

    File backups are SQLite's (cloud.retention.backup); PostgreSQL has none to rewrite."""
    if is_postgres(db):
        return 0
    rewritten = 0
    keys = store_for(db)
    for item in backups.list_backups(_backup_dir(db)):
        copy = backups.open_backup(item.path)
        use_store(copy, keys)
        try:
            copy.execute("BEGIN IMMEDIATE")
            try:
                erased = sum(sum(erase_kept_for(copy, child_id=child_id, purpose=p).values())
                             for p in purposes)
            except BaseException:
                copy.execute("ROLLBACK")
                raise
            copy.execute("COMMIT")
            if erased:
                backups.compact(copy)
                rewritten += 1
        finally:
            copy.close()
    return rewritten
