"""NEGATIVE CONTROL: a cloud whose "deletion" only flags the child as deleted.

Soft deletion is the classic shortcut: the parent is told the data is gone, a flag hides it,
and every row, every WAL frame and every backup still holds it (R18, R19). The real erasure
points of the cloud's seam (erase_child, request_erasure, erase_item) flag and then report
success.

    python -m scenarios.variants.cloud_flag_delete serve --db PATH ...   (any `teddy cloud` args)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud.seam import CloudSeam, Honest

FLAG_TABLE = "erasure_flags"


def flag_child(db: sqlite_utils.Database, *, child_id: int, parent_id: int | None, now: float,
               db_path: str, reason: str = "parent_request",
               backup_dir: str | Path | None = None) -> object:
    from cloud import audit
    from cloud.retention.erasure import ErasureError
    from cloud.retention.receipt import ErasureReceipt, ProofResult, new_receipt_id

    receipt_id = new_receipt_id()
    owner = db.execute("SELECT parent_id FROM children WHERE id = ?", [child_id]).fetchone()
    if owner is None or (parent_id is not None and int(owner[0]) != parent_id):
        raise ErasureError("no such child for this parent")
    # Portable SQL, so the same fault is planted on SQLite and on PostgreSQL.
    db.execute(f"CREATE TABLE IF NOT EXISTS {FLAG_TABLE} (child_id INTEGER PRIMARY KEY, "
               "flagged_at DOUBLE PRECISION NOT NULL)")
    db.execute(f"INSERT INTO {FLAG_TABLE} (child_id, flagged_at) VALUES (?, ?) "
               "ON CONFLICT (child_id) DO UPDATE SET flagged_at = excluded.flagged_at",
               [child_id, now])
    actor = audit.subject_ref("parent", parent_id) if parent_id is not None else "system"
    audit_hash = audit.append(db, at=now, actor=actor, action="child.erase",
                              subject=audit.subject_ref("child", child_id),
                              details={"receipt": receipt_id, "reason": reason})
    # The lie: a receipt claiming a clean erasure that never happened.
    proof = ProofResult(checkpoint_complete=True, checkpoint_attempts=1, canaries_checked=0,
                        values_held_elsewhere=0, files_scanned=0, bytes_scanned=0)
    return ErasureReceipt(receipt_id=receipt_id, erased_at=now, reason=reason,
                          rows_removed={"children": 1}, categories=["child.profile"],
                          backups_rewritten=0, proof=proof, elapsed_s=0.0,
                          audit_hash=audit_hash)


def flag_item(db: sqlite_utils.Database, *, child_id: int, parent_id: int, table: str,
              row_id: int | str, now: float) -> object:
    """Deletes nothing, yet hands back a receipt claiming the item is proven gone."""
    from cloud import audit
    from cloud.retention.item_receipt import (
        ERASE_ACTION,
        PROOF_ACTION,
        PROOF_FILE,
        ItemReceipt,
        new_item_receipt_id,
    )

    receipt_id = new_item_receipt_id()
    actor, subject = audit.subject_ref("parent", parent_id), audit.subject_ref("child", child_id)
    audit_hash = audit.append(db, at=now, actor=actor, action=ERASE_ACTION, subject=subject,
                              details={"tables": [table], "count": 1, "rows": {table: 1},
                                       "receipt": receipt_id, "category": "child.profile"})
    audit.append(db, at=now, actor=actor, action=PROOF_ACTION, subject=subject,
                 details={"receipt": receipt_id, "scope": PROOF_FILE})
    return ItemReceipt(receipt_id, now, table, "child.profile", {table: 1}, PROOF_FILE,
                       audit_hash)


def flag_request(db: sqlite_utils.Database, *, finish_within_s: float | None = None,
                 **kwargs: object) -> object:
    """The parent pages' entry point: a "finished" job built from the lying receipt."""
    from cloud.retention.jobs import STEP_DONE, ErasureJob

    receipt = flag_child(db, **kwargs)  # type: ignore[arg-type]
    document = receipt.to_dict()  # type: ignore[attr-defined]
    return ErasureJob(job_id=document["receipt_id"], child_id=int(kwargs["child_id"]),  # type: ignore[call-overload]
                      parent_id=kwargs.get("parent_id"),  # type: ignore[arg-type]
                      reason=document["reason"], started_at=document["erased_at"],
                      step=STEP_DONE, rows_removed=document["rows_removed"],
                      audit_hash=document["audit_hash"], backups={}, receipt=document,
                      finished_at=document["erased_at"])


class FlagsInsteadOfErasing(CloudSeam):
    """Every erasure point flags the child and reports success."""

    def erase_child(self, honest: Honest, *args: Any, **kwargs: Any) -> object:
        return flag_child(*args, **kwargs)

    def request_erasure(self, honest: Honest, *args: Any, **kwargs: Any) -> object:
        return flag_request(*args, **kwargs)

    def erase_item(self, honest: Honest, *args: Any, **kwargs: Any) -> bool:
        return flag_item(*args, **kwargs)


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], FlagsInsteadOfErasing()))
