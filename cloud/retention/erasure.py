"""Erasing a child everywhere, on request or after inactivity, and proving it (R18-R20).

Order matters. Every row about the child goes in one transaction together with the audit
entry, so a failure leaves everything as it was. Then backups holding the child are rewritten
without it, the WAL is checkpointed and truncated so no old frame keeps a copy, and finally the
raw bytes of every file are searched for the values that identified the child.

Consent records: they identify the child only by id, but the schema ties them to the child
with ON DELETE CASCADE, and a consent for a child who no longer exists governs nothing. They
go with the child. Accountability for them (R08, R27) stays in the audit log, which recorded
every grant and revocation with parent, time, notice version, purpose and method, under an
opaque `child:<id>` reference and without child content.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import sqlite_utils

from cloud import audit
from cloud.retention import backup as backups
from cloud.retention.checkpoint import checkpoint_truncate
from cloud.retention.child_rows import candidate_canaries, delete_child_rows, explain_findings
from cloud.retention.policy import erase_plan, table_retention
from cloud.retention.proof import files_to_scan, scan_for_canaries
from cloud.retention.receipt import ErasureReceipt, ProofResult, new_receipt_id

REASON_REQUEST = "parent_request"
REASON_INACTIVE = "inactive"
# What a parent may delete one row at a time from the dashboard, and the type of its key.
ERASABLE_ITEMS: dict[str, type] = {"profile_facts": int, "intent_events": int, "devices": str}


class ErasureError(LookupError):
    """The child or item does not exist or does not belong to this parent; nothing changed."""


def _configured_backup_dir(db_path: str) -> str | None:
    """Inside the running cloud, the configured backup directory; elsewhere, the default."""
    flask = sys.modules.get("flask")
    if flask is None:
        return None  # no Flask loaded, so certainly no application context
    current_app, has_app_context = flask.current_app, flask.has_app_context
    if has_app_context():
        config = current_app.config.get("TEDDY")
        if config is not None and config.db_path == db_path:
            return config.backup_dir
    return None


def _require_no_transaction(db: sqlite_utils.Database, what: str) -> None:
    if db.conn.in_transaction:
        raise RuntimeError(f"{what} commits and checkpoints itself; call it outside a "
                           "transaction")


def erase_child(db: sqlite_utils.Database, *, child_id: int, parent_id: int | None, now: float,
                db_path: str, reason: str = REASON_REQUEST,
                backup_dir: str | Path | None = None) -> ErasureReceipt:
    """Remove the child from every table, backup and WAL frame; return the parent's receipt.

    `parent_id` None means the system acts on its own (the inactivity purge); otherwise the
    child must belong to that parent. Raises ErasureError, changing nothing, when it does not.
    """
    _require_no_transaction(db, "erase_child")
    if not isinstance(child_id, int) or isinstance(child_id, bool):
        raise ErasureError("child_id must be an integer")
    started = time.perf_counter()
    receipt_id = new_receipt_id()
    plan = erase_plan(db)
    actor = audit.subject_ref("parent", parent_id) if parent_id is not None else "system"
    db.execute("BEGIN IMMEDIATE")
    try:
        owner = db.execute("SELECT parent_id FROM children WHERE id = ?", [child_id]).fetchone()
        if owner is None or (parent_id is not None and int(owner[0]) != parent_id):
            raise ErasureError("no such child for this parent")
        canaries = candidate_canaries(db, child_id)
        removed = delete_child_rows(db, child_id, plan)
        audit_hash = audit.append(
            db, at=now, actor=actor, action="child.erase",
            subject=audit.subject_ref("child", child_id),
            details={"receipt": receipt_id, "reason": reason, "tables": list(removed),
                     "rows": removed})
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")

    backup_root = backups.backup_dir_for(db_path, backup_dir or _configured_backup_dir(db_path))
    rewritten = erase_from_backups(backup_root, child_id)
    proof = prove_erasure(db, db_path, canaries, backup_root)
    audit.append(db, at=now, actor=actor, action="child.erase.proof",
                 subject=audit.subject_ref("child", child_id),
                 details={"receipt": receipt_id, "count": len(proof.findings),
                          "scope": "clean" if proof.clean else "incomplete"})
    categories = sorted({c for table, n in removed.items() if n
                         for c in table_retention()[table].categories})
    return ErasureReceipt(receipt_id=receipt_id, erased_at=now, reason=reason,
                          rows_removed=removed, categories=categories,
                          backups_rewritten=rewritten, proof=proof,
                          elapsed_s=time.perf_counter() - started, audit_hash=audit_hash)


def prove_erasure(db: sqlite_utils.Database, db_path: str, canaries: list[str],
                  backup_dir: Path) -> ProofResult:
    checkpoint = checkpoint_truncate(db)
    findings, held_elsewhere = explain_findings(
        db, scan_for_canaries(db_path, canaries, backup_dir))
    files = files_to_scan(db_path, backup_dir)
    problem = checkpoint.problem
    if findings and problem is None:
        problem = f"{len(findings)} copies of erased values still found in raw bytes"
    return ProofResult(
        checkpoint_complete=checkpoint.complete, checkpoint_attempts=checkpoint.attempts,
        canaries_checked=len(canaries), values_held_elsewhere=held_elsewhere,
        files_scanned=len(files),
        bytes_scanned=sum(p.stat().st_size for p in files),
        findings=[{"file": Path(f.file).name, "offset": f.offset} for f in findings],
        problem=problem)


def erase_from_backups(backup_dir: Path, child_id: int) -> int:
    """Rewrite each backup that holds the child without it; returns how many were rewritten."""
    rewritten = 0
    for item in backups.list_backups(backup_dir):
        copy = backups.open_backup(item.path)
        try:
            if not copy.execute("SELECT 1 FROM children WHERE id = ?", [child_id]).fetchone():
                continue
            copy.execute("BEGIN IMMEDIATE")
            try:
                delete_child_rows(copy, child_id, erase_plan(copy))
            except BaseException:
                copy.execute("ROLLBACK")
                raise
            copy.execute("COMMIT")
            backups.compact(copy)
            rewritten += 1
        finally:
            copy.close()
    return rewritten


def erase_item(db: sqlite_utils.Database, *, child_id: int, parent_id: int, table: str,
               row_id: int | str, now: float) -> bool:
    """Delete one row the parent chose from the dashboard; False if it is not theirs or gone.

    A device goes with the request numbers it used. The WAL is then checkpointed so the row
    leaves no copy behind; that step is bounded and never blocks the parent for long.
    """
    _require_no_transaction(db, "erase_item")
    key_type = ERASABLE_ITEMS.get(table)
    if key_type is None:
        raise ValueError(f"cannot erase single rows from {table!r}; erasable: "
                         f"{', '.join(sorted(ERASABLE_ITEMS))}")
    if not isinstance(row_id, key_type) or isinstance(row_id, bool):
        raise ValueError(f"{table} rows are identified by {key_type.__name__}")
    db.execute("BEGIN IMMEDIATE")
    try:
        owned = db.execute(
            f"SELECT 1 FROM [{table}] AS t JOIN children AS c ON c.id = t.child_id "
            "WHERE t.id = ? AND t.child_id = ? AND c.parent_id = ?",
            [row_id, child_id, parent_id]).fetchone()
        if owned is None:
            db.execute("ROLLBACK")
            return False
        count = 0
        if table == "devices":
            count += db.execute("DELETE FROM seen_nonces WHERE device_id = ?", [row_id]).rowcount
        count += db.execute(f"DELETE FROM [{table}] WHERE id = ?", [row_id]).rowcount
        audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id),
                     action="item.erase", subject=audit.subject_ref("child", child_id),
                     details={"tables": [table], "count": count})
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    checkpoint_truncate(db)
    return True
