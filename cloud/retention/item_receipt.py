"""The receipt for one item a parent deleted from the dashboard: what kind of data went, when,
and the proof, never which child or what the value was.

Like the whole-child receipt (`cloud.retention.receipt`), it carries a random receipt id that
the accountability log records next to the opaque `child:<id>` reference. It is kept nowhere
else: the log's `item.erase` entry (tables, count, kind of data) and its `item.erase.proof`
entry (what the proof covered) are the receipt, so it can be shown again for as long as the
log keeps them, and only to the parent whose entry it is.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import sqlite_utils

from cloud.clock import iso

RECEIPT_PREFIX = "erasure-item-"
ERASE_ACTION = "item.erase"
PROOF_ACTION = "item.erase.proof"
# What the proof covered, as recorded in the log (identifiers only).
PROOF_FILE = "file"  # the row is gone and the WAL emptied: secure_delete zeroed its bytes
PROOF_ROWS = "rows"  # the row is gone; no file of ours to empty (PostgreSQL)
PROOF_PENDING = "wal-pending"  # the row is gone, but a reader kept the WAL from emptying


def new_item_receipt_id() -> str:
    return f"{RECEIPT_PREFIX}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class ItemReceipt:
    receipt_id: str
    erased_at: float
    table: str
    category: str
    rows_removed: dict[str, int]
    proof: str
    audit_hash: str

    @property
    def proven(self) -> bool:
        return self.proof in (PROOF_FILE, PROOF_ROWS)

    def to_dict(self) -> dict[str, object]:
        return {"receipt_id": self.receipt_id, "erased_at": self.erased_at,
                "erased_at_iso": iso(self.erased_at), "table": self.table,
                "category": self.category, "rows_removed": dict(self.rows_removed),
                "proof": self.proof, "proven": self.proven, "audit_hash": self.audit_hash}


def proof_words(proof: str) -> str:
    if proof == PROOF_FILE:
        return ("The item is no longer in the database, and the database's write-ahead log was "
                "emptied, so the deleted bytes were overwritten with zeros.")
    if proof == PROOF_ROWS:
        return "The item is no longer in the database."
    return ("The item is no longer in the database; the write-ahead log was busy and is "
            "emptied by the next clean-up.")


def find_item_receipt(db: sqlite_utils.Database, receipt_id: str,
                      parent_id: int) -> ItemReceipt | None:
    """The receipt as the log holds it, if it is this parent's; None otherwise."""
    if not receipt_id.startswith(RECEIPT_PREFIX) or not receipt_id.isascii() or \
            not receipt_id.replace("-", "").isalnum():
        return None
    actor = f"parent:{parent_id}"
    rows = db.execute(
        "SELECT action, at, details_json, hash FROM audit_log WHERE actor = ? AND action IN "
        "(?, ?) AND details_json LIKE ? ORDER BY seq",
        [actor, ERASE_ACTION, PROOF_ACTION, f'%"receipt": "{receipt_id}"%']).fetchall()
    erased = proof = None
    for action, at, details_json, entry_hash in rows:
        details = json.loads(details_json)
        if details.get("receipt") != receipt_id:
            continue
        if action == ERASE_ACTION:
            erased = (at, details, entry_hash)
        else:
            proof = details.get("scope")
    if erased is None:
        return None
    at, details, entry_hash = erased
    return ItemReceipt(receipt_id, float(at), str(details["tables"][0]),
                       str(details.get("category", "")), dict(details.get("rows", {})),
                       str(proof or PROOF_PENDING), str(entry_hash))
