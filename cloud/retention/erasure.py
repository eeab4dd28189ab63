"""Erasing a child everywhere, on request or after inactivity, and proving it (R18-R20).

Order matters. A durable job record comes first; then the child's key is destroyed, committed
in the key store (cloud.keys), so from that moment every copy of the child's sealed values,
in backups, replicas and WAL included, is ciphertext nothing can open. Then every row about
the child goes in one transaction together with the audit entry, so a failure leaves the job
to retry and the rows as they were. Then backups holding
the child are rewritten without it, the WAL is checkpointed and truncated so no old frame keeps
a copy, and finally the raw bytes of every file are searched for the values that identified the
child. Each later step is recorded as it finishes (cloud.retention.jobs), so a crash, a worker
timeout or a restart only delays it: the next purge, server start or parent retry finishes it.

Consent records: they identify the child only by id, but the schema ties them to the child
with ON DELETE CASCADE, and a consent for a child who no longer exists governs nothing. They
go with the child. Accountability for them (R08, R27) stays in the audit log, which recorded
every grant and revocation with parent, time, notice version, purpose and method, under an
opaque `child:<id>` reference and without child content.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import sqlite_utils

from cloud import audit
from cloud.keys.shredding import prove_key_erasure
from cloud.keys.store import store_for
from cloud.retention import backup as backups
from cloud.retention import jobs
from cloud.retention.checkpoint import checkpoint_truncate
from cloud.retention.child_rows import explain_findings
from cloud.retention.item_receipt import (
    ERASE_ACTION,
    PROOF_ACTION,
    PROOF_FILE,
    PROOF_PENDING,
    PROOF_ROWS,
    ItemReceipt,
    new_item_receipt_id,
)
from cloud.retention.jobs import ErasureError, ErasureJob
from cloud.retention.proof import files_to_scan, scan_for_canaries
from cloud.retention.receipt import ErasureReceipt, ProofResult
from cloud.seam import seam_point
from cloud.storage.db import in_transaction, is_postgres
from teddy.contracts.data_map import data_map

__all__ = ["ERASABLE_ITEMS", "REASON_INACTIVE", "REASON_REQUEST", "ErasureError", "ErasureJob",
           "continue_erasure", "erase_child", "erase_from_backups", "erase_item",
           "erasure_status", "finish_erasures", "prove_erasure", "request_erasure"]

REASON_REQUEST = "parent_request"
REASON_INACTIVE = "inactive"
# What a parent may delete one row at a time from the dashboard, and the type of its key.
ERASABLE_ITEMS: dict[str, type] = {"profile_facts": int, "intent_events": int, "devices": str}


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
    if in_transaction(db):
        raise RuntimeError(f"{what} commits and checkpoints itself; call it outside a "
                           "transaction")


@seam_point("request_erasure")
def request_erasure(db: sqlite_utils.Database, *, child_id: int, parent_id: int | None,
                    now: float, db_path: str, reason: str = REASON_REQUEST,
                    backup_dir: str | Path | None = None,
                    finish_within_s: float | None = None) -> ErasureJob:
    """Commit the erasure now and carry it on for at most `finish_within_s` seconds.

    The live rows are gone, and the job recorded, before this returns; what is left (backups,
    proof) is finished by `finish_erasures`, which the server's background runner, the next
    purge and every server start call. None waits for the whole job.
    """
    _require_no_transaction(db, "request_erasure")
    backup_root = backups.backup_dir_for(db_path, backup_dir or _configured_backup_dir(db_path))
    job = jobs.begin_erasure(db, child_id=child_id, parent_id=parent_id, now=now,
                             db_path=db_path, reason=reason, backup_dir=backup_root)
    deadline = None if finish_within_s is None else time.monotonic() + finish_within_s
    return jobs.run_job(db, job.job_id, db_path=db_path, backup_dir=backup_root, now=now,
                        deadline=deadline, wait=finish_within_s is None)


@seam_point("erase_child")
def erase_child(db: sqlite_utils.Database, *, child_id: int, parent_id: int | None, now: float,
                db_path: str, reason: str = REASON_REQUEST,
                backup_dir: str | Path | None = None) -> ErasureReceipt:
    """Remove the child from every table, backup and WAL frame; return the parent's receipt.

    `parent_id` None means the system acts on its own (the inactivity purge); otherwise the
    child must belong to that parent. Raises ErasureError, changing nothing, when it does not.
    Runs the whole job before returning; `request_erasure` returns sooner.
    """
    started = time.perf_counter()
    job = request_erasure(db, child_id=child_id, parent_id=parent_id, now=now, db_path=db_path,
                          reason=reason, backup_dir=backup_dir)
    receipt = jobs.receipt_of(job)
    return dataclasses.replace(receipt, elapsed_s=time.perf_counter() - started)


def finish_erasures(db: sqlite_utils.Database, *, db_path: str,
                    backup_dir: str | Path | None = None, now: float,
                    wait: bool = True) -> list[ErasureJob]:
    """Finish every erasure left unfinished by a crash, a kill or a timeout (R32)."""
    _require_no_transaction(db, "finish_erasures")
    backup_root = backups.backup_dir_for(db_path, backup_dir or _configured_backup_dir(db_path))
    return jobs.finish_pending(db, db_path=db_path, backup_dir=backup_root, now=now, wait=wait)


def continue_erasure(db: sqlite_utils.Database, *, job_id: str, db_path: str, now: float,
                     backup_dir: str | Path | None = None,
                     finish_within_s: float | None = None) -> ErasureJob:
    """Carry one job on for at most `finish_within_s` seconds (None: to the end), unless
    another runner is already at it; returns the job as it then stands."""
    _require_no_transaction(db, "continue_erasure")
    backup_root = backups.backup_dir_for(db_path, backup_dir or _configured_backup_dir(db_path))
    deadline = None if finish_within_s is None else time.monotonic() + finish_within_s
    return jobs.run_job(db, job_id, db_path=db_path, backup_dir=backup_root, now=now,
                        deadline=deadline, wait=finish_within_s is None)


def erasure_status(db: sqlite_utils.Database, *, child_id: int,
                   parent_id: int | None) -> ErasureJob | None:
    """The latest erasure of this child by this parent, finished or not."""
    return jobs.job_for_child(db, child_id, parent_id)


def prove_erasure(db: sqlite_utils.Database, db_path: str, canaries: list[str],
                  backup_dir: Path, child_id: int) -> ProofResult:
    keys = prove_key_erasure(db, store_for(db), child_id)
    checkpoint = checkpoint_truncate(db)
    findings, held_elsewhere = explain_findings(
        db, scan_for_canaries(db_path, canaries, backup_dir))
    files = files_to_scan(db_path, backup_dir)
    problem = checkpoint.problem
    if findings and problem is None:
        problem = f"{len(findings)} copies of erased values still found in raw bytes"
    problem = keys.problem or problem
    return ProofResult(
        checkpoint_complete=checkpoint.complete, checkpoint_attempts=checkpoint.attempts,
        canaries_checked=len(canaries), values_held_elsewhere=held_elsewhere,
        files_scanned=len(files),
        bytes_scanned=sum(p.stat().st_size for p in files),
        findings=[{"file": Path(f.file).name, "offset": f.offset} for f in findings],
        problem=problem, key_destroyed=keys.key_destroyed, keys_tried=keys.keys_tried,
        sealed_values_tried=keys.sealed_values_tried,
        sealed_values_readable=keys.sealed_values_readable,
        key_copies_in_store=keys.key_copies_in_store)


def erase_from_backups(backup_dir: Path, child_id: int) -> int:
    """Rewrite each backup that holds the child without it; returns how many were rewritten."""
    return sum(backups.rewrite_backup(item.path, child_id)
               for item in backups.list_backups(backup_dir))


def forget_device(db: sqlite_utils.Database, device_id: str) -> dict[str, int]:
    """Delete a paired toy with its key and everything kept only because of it (the request
    numbers it used, the answers kept for its retries), in the caller's transaction; the rows
    deleted per table. The child's own data stays: that is the parent's to keep or erase."""
    return {table: db.execute(f"DELETE FROM {table} WHERE {column} = ?", [device_id]).rowcount
            for table, column in (("seen_nonces", "device_id"),
                                  ("processed_messages", "device_id"), ("devices", "id"))}


@seam_point("erase_item")
def erase_item(db: sqlite_utils.Database, *, child_id: int, parent_id: int, table: str,
               row_id: int | str, now: float) -> ItemReceipt | None:
    """Delete one row the parent chose from the dashboard and return its receipt; None if it
    is not theirs or already gone.

    A device goes with what was kept only because of it (forget_device). The WAL is then
    checkpointed so the row leaves no copy behind; that step is bounded and never blocks the
    parent for long. The receipt names the kind of data, never the child or the value
    (`cloud.retention.item_receipt`).
    """
    _require_no_transaction(db, "erase_item")
    key_type = ERASABLE_ITEMS.get(table)
    if key_type is None:
        raise ValueError(f"cannot erase single rows from {table!r}; erasable: "
                         f"{', '.join(sorted(ERASABLE_ITEMS))}")
    if not isinstance(row_id, key_type) or isinstance(row_id, bool):
        raise ValueError(f"{table} rows are identified by {key_type.__name__}")
    receipt_id = new_item_receipt_id()
    actor = audit.subject_ref("parent", parent_id)
    db.execute("BEGIN IMMEDIATE")
    try:
        owned = db.execute(
            f"SELECT 1 FROM \"{table}\" AS t JOIN children AS c ON c.id = t.child_id "
            "WHERE t.id = ? AND t.child_id = ? AND c.parent_id = ?",
            [row_id, child_id, parent_id]).fetchone()
        if owned is None:
            db.execute("ROLLBACK")
            return None
        category = _item_category(db, table, row_id)
        if table == "devices":
            rows = forget_device(db, str(row_id))
        else:
            rows = {table: db.execute(f"DELETE FROM \"{table}\" WHERE id = ?",
                                      [row_id]).rowcount}
        audit_hash = audit.append(db, at=now, actor=actor, action=ERASE_ACTION,
                                  subject=audit.subject_ref("child", child_id),
                                  details={"tables": [table], "count": sum(rows.values()),
                                           "rows": rows, "receipt": receipt_id,
                                           "category": category})
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    checkpoint = checkpoint_truncate(db)
    gone = db.execute(f"SELECT 1 FROM \"{table}\" WHERE id = ?", [row_id]).fetchone() is None
    if not gone:
        proof = PROOF_PENDING  # cannot happen after a committed DELETE; never claim it did
    elif is_postgres(db):
        proof = PROOF_ROWS
    else:
        proof = PROOF_FILE if checkpoint.complete else PROOF_PENDING
    audit.append(db, at=now, actor=actor, action=PROOF_ACTION,
                 subject=audit.subject_ref("child", child_id),
                 details={"receipt": receipt_id, "scope": proof})
    return ItemReceipt(receipt_id, now, table, category, rows, proof, audit_hash)


def _item_category(db: sqlite_utils.Database, table: str, row_id: int | str) -> str:
    """The kind of data one row holds, as the data map names it: a remembered fact's own
    category (a name, a favourite thing), else the category of the table's rows."""
    categories = data_map().categories
    if table == "profile_facts":
        stored = db.execute("SELECT category FROM profile_facts WHERE id = ?",
                            [row_id]).fetchone()
        if stored and stored[0] in categories:
            return str(stored[0])
    return str(data_map().tables[table]["columns"]["id"]["category"])
