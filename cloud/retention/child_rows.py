"""Finding and deleting every row about one child, on the live database or on a backup copy."""

from __future__ import annotations

import json

import sqlite_utils

from cloud.keys.fields import open_value
from cloud.keys.store import KeyDestroyed, NoKey
from cloud.retention.policy import CHILD_KEY, DEVICE_KEY, ErasePlan
from cloud.retention.proof import MAX_CANARY_CHARS, Finding, encodings
from cloud.storage.db import is_postgres

# Values shorter than this turn up by chance in binary pages (timestamps, hashes), so the
# automatic proof does not search for them; an explicit `verify-erasure --canary` still can.
MIN_AUTO_CANARY_CHARS = 4
MAX_AUTO_CANARIES = 64


def device_ids(db: sqlite_utils.Database, child_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT id FROM devices WHERE child_id = ?", [child_id])]


def delete_child_rows(db: sqlite_utils.Database, child_id: int,
                      plan: ErasePlan) -> dict[str, int]:
    """Delete in the caller's transaction; returns rows removed per table (zeros included)."""
    devices = device_ids(db, child_id) if "devices" in plan.by_child else []
    removed: dict[str, int] = {}
    for table in plan.by_device:
        count = 0
        for device in devices:
            count += db.execute(f"DELETE FROM \"{table}\" WHERE \"{DEVICE_KEY}\" = ?",
                                [device]).rowcount
        removed[table] = count
    for table in plan.by_child:
        removed[table] = db.execute(f"DELETE FROM \"{table}\" WHERE \"{CHILD_KEY}\" = ?",
                                    [child_id]).rowcount
    removed[plan.root] = db.execute(f"DELETE FROM \"{plan.root}\" WHERE id = ?",
                                    [child_id]).rowcount
    return removed


def candidate_canaries(db: sqlite_utils.Database, child_id: int) -> list[str]:
    """Values that identify this child: its name, remembered facts, what it asked for, and its
    toys' keys. Read before deletion."""
    values: list[str] = []
    row = db.execute("SELECT first_name FROM children WHERE id = ?", [child_id]).fetchone()
    if row and row[0]:
        values.append(_opened(db, child_id, "children", "first_name", row[0]))
    values += [_opened(db, child_id, "profile_facts", "value", r[0]) for r in
               db.execute("SELECT value FROM profile_facts WHERE child_id = ?", [child_id])]
    values += [r[0] for r in db.execute(
        "SELECT secret FROM devices WHERE child_id = ?", [child_id])]
    values += _text_slot_values(db, child_id)
    usable = [v for v in dict.fromkeys(values)
              if isinstance(v, str) and MIN_AUTO_CANARY_CHARS <= len(v) <= MAX_CANARY_CHARS
              and "\x00" not in v]
    # Longest first: long values are the least likely to match by chance.
    return sorted(usable, key=len, reverse=True)[:MAX_AUTO_CANARIES]


def _opened(db: sqlite_utils.Database, child_id: int, table: str, column: str,
            sealed: str | None) -> str:
    """The value, or "" when its key is already destroyed (an erasure redone after a restore):
    such a value is ciphertext nobody can open, nothing the byte scan could look for."""
    try:
        return open_value(db, child_id, table, column, sealed) or ""
    except (KeyDestroyed, NoKey):
        return ""


def _text_slot_values(db: sqlite_utils.Database, child_id: int) -> list[str]:
    """The distinct text values of the child's intent slots, sorted (parsed here rather than
    with SQLite's json_each, which PostgreSQL spells differently)."""
    found: set[str] = set()
    for (sealed,) in db.execute("SELECT slots_json FROM intent_events WHERE child_id = ?",
                                [child_id]).fetchall():
        raw = _opened(db, child_id, "intent_events", "slots_json", sealed)
        try:
            slots = json.loads(raw or "")
        except (TypeError, ValueError):
            continue
        if isinstance(slots, dict):
            found.update(v for v in slots.values() if isinstance(v, str))
    return sorted(found)


def _text_columns(db: sqlite_utils.Database) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table in db.table_names():
        names = [c.name for c in db[table].columns if c.type.upper() in ("TEXT", "")]
        if names:
            columns[table] = names
    return columns


def _in_schema(db: sqlite_utils.Database, needle: str) -> bool:
    if is_postgres(db):
        return db.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND (strpos(table_name, ?) > 0 OR strpos(column_name, ?) > 0) LIMIT 1",
            [needle, needle]).fetchone() is not None
    return db.execute("SELECT 1 FROM sqlite_master WHERE instr(sql, ?) LIMIT 1",
                      [needle]).fetchone() is not None


def still_held(db: sqlite_utils.Database, value: str) -> bool:
    """Whether the value is still in the database legitimately: another child's row, the schema,
    a parent's e-mail. Finding those bytes would prove nothing about this erasure."""
    for form in encodings(value):
        needle = form.decode("utf-8")
        if _in_schema(db, needle):
            return True
        # The same function under two names: instr in SQLite, strpos in PostgreSQL.
        find = "strpos" if is_postgres(db) else "instr"
        for table, names in _text_columns(db).items():
            condition = " OR ".join(f"{find}(\"{n}\", ?) > 0" for n in names)
            if db.execute(f"SELECT 1 FROM \"{table}\" WHERE {condition} LIMIT 1",
                          [needle] * len(names)).fetchone():
                return True
    return False


def explain_findings(db: sqlite_utils.Database,
                     findings: list[Finding]) -> tuple[list[Finding], int]:
    """Split raw-byte findings: values the database still holds in a live row (another child
    with the same name, a word in the schema) prove nothing about this erasure and are set
    aside; the rest are residue. Returns (residue, how many values were set aside).

    Only values actually found are looked up, so a clean erasure costs no table scans.
    """
    held = {value for value in {f.canary for f in findings} if still_held(db, value)}
    return [f for f in findings if f.canary not in held], len(held)
