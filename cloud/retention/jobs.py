"""Erasure as a durable job that a crash, a timeout or a restart cannot leave half done (R32).

An erasure has four steps: the job's record, destroying the child's key in the key store
(committed there before anything else changes), the live commit (every row and the audit
entry in one transaction), rewriting every backup that holds the child, and the proof. Each
step's
progress is committed to `erasure_jobs` as it happens, so whoever runs the job next (the
request that started it, a parent's retry, the server's background runner, the next purge or
server start) carries on where the last one stopped. A runner holds the erasure-runner lease
in the database while it works (cloud.fleet.lease), so two runners, even on different app
servers, never rewrite the same backup at once.

The proof needs the values that identified the child (its name, facts, device keys) after they
are gone from the database. They must not sit in the database, where a backup taken meanwhile
would copy them, so they wait in `<db>.erasure/<receipt>.json` (0600, fsynced before the live
commit) and that file is removed the moment the proof is recorded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud import audit
from cloud.fleet import lease
from cloud.keys.shredding import prove_key_erasure
from cloud.keys.store import store_for
from cloud.retention import backup as backups
from cloud.retention.child_rows import candidate_canaries, delete_child_rows
from cloud.retention.policy import erase_plan, table_retention
from cloud.retention.proof import scanned_bytes
from cloud.retention.receipt import (
    PROOF_SCOPE_ROWS,
    ErasureReceipt,
    ProofResult,
    new_receipt_id,
)
from cloud.storage.db import is_postgres

log = logging.getLogger(__name__)
# Recorded, the child's key not yet (known to be) destroyed, its rows not yet deleted.
STEP_KEY = "key"
STEP_BACKUPS = "backups"
STEP_PROOF = "proof"
STEP_DONE = "done"
# Per backup: not yet looked at, rewritten without the child, or found not to hold the child.
PENDING, REWRITTEN, CLEAN = "pending", "rewritten", "clean"
# A deadline-bound runner starts the proof only if a scan at this rate would end in time; the
# scan reads every byte of the database and its backups (measured above 1 GB/s warm here).
PROOF_SCAN_BYTES_PER_S = 200e6
# A canary file with no job is an erasure still committing, unless it is older than this.
ORPHAN_AFTER_S = 300.0


class ErasureError(LookupError):
    """The child or item does not exist or does not belong to this parent; nothing changed."""


@dataclass(frozen=True)
class ErasureJob:
    job_id: str
    child_id: int
    parent_id: int | None
    reason: str
    started_at: float
    step: str
    rows_removed: dict[str, int]
    audit_hash: str
    backups: dict[str, str]
    receipt: dict[str, Any] | None
    finished_at: float | None

    @property
    def done(self) -> bool:
        return self.step == STEP_DONE

    @property
    def backups_total(self) -> int:
        return len(self.backups)

    @property
    def backups_done(self) -> int:
        return sum(state != PENDING for state in self.backups.values())

    @property
    def backups_rewritten(self) -> int:
        return sum(state == REWRITTEN for state in self.backups.values())

    def progress(self) -> str:
        if self.done:
            return "erasure finished"
        if self.step == STEP_KEY:
            return "erasure in progress: destroying the child's key, then deleting its data"
        if self.step == STEP_PROOF:
            return (f"erasure in progress: all {self.backups_total} backups rewritten, "
                    "checking the files for any trace")
        return (f"erasure in progress: {self.backups_done} of {self.backups_total} backups "
                "rewritten")

    def to_dict(self) -> dict[str, Any]:
        return {"receipt_id": self.job_id, "step": self.step, "done": self.done,
                "backups_total": self.backups_total, "backups_done": self.backups_done,
                "progress": self.progress(), "receipt": self.receipt}


_COLUMNS = ("id, erased_child_id, parent_id, reason, started_at, step, rows_json, backups_json, "
            "receipt_json, finished_at")


def _job(row: tuple[Any, ...]) -> ErasureJob:
    rows = json.loads(row[6])
    return ErasureJob(job_id=row[0], child_id=int(row[1]),
                      parent_id=None if row[2] is None else int(row[2]), reason=row[3],
                      started_at=float(row[4]), step=row[5], rows_removed=rows["rows"],
                      audit_hash=rows["audit_hash"], backups=json.loads(row[7]),
                      receipt=json.loads(row[8]) if row[8] else None,
                      finished_at=None if row[9] is None else float(row[9]))


def _insertion_order(db: sqlite_utils.Database) -> str:
    """Ties on started_at: SQLite's rowid is insertion order; PostgreSQL has none, so the
    (random) job id breaks them there, which is stable if not chronological."""
    return "id" if is_postgres(db) else "rowid"


def load_job(db: sqlite_utils.Database, job_id: str) -> ErasureJob | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM erasure_jobs WHERE id = ?", [job_id]).fetchone()
    return _job(row) if row else None


def job_for_child(db: sqlite_utils.Database, child_id: int,
                  parent_id: int | None) -> ErasureJob | None:
    """The latest erasure of this child started by (or, for None, regardless of) this parent."""
    if "erasure_jobs" not in db.table_names():
        return None
    row = db.execute(
        f"SELECT {_COLUMNS} FROM erasure_jobs WHERE erased_child_id = ? "
        "AND (CAST(? AS BIGINT) IS NULL OR parent_id = ?) "
        f"ORDER BY started_at DESC, {_insertion_order(db)} DESC LIMIT 1",
        [child_id, parent_id, parent_id]).fetchone()
    return _job(row) if row else None


def pending_jobs(db: sqlite_utils.Database) -> list[ErasureJob]:
    return [_job(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM erasure_jobs WHERE step != ? "
        f"ORDER BY started_at, {_insertion_order(db)}",
        [STEP_DONE])]


# -- the values the proof searches for, kept beside the database until the proof is done ------

def canary_dir(db_path: str | Path) -> Path:
    return Path(f"{db_path}.erasure")


def _canary_file(db_path: str | Path, job_id: str) -> Path:
    return canary_dir(db_path) / f"{job_id}.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_canaries(db_path: str, job_id: str, canaries: list[str]) -> Path:
    directory = canary_dir(db_path)
    directory.mkdir(mode=0o700, exist_ok=True)
    path = _canary_file(db_path, job_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(canaries, handle)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(directory)
    return path


def _load_canaries(db_path: str, job_id: str) -> list[str] | None:
    try:
        loaded = json.loads(_canary_file(db_path, job_id).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return [v for v in loaded if isinstance(v, str)] if isinstance(loaded, list) else None


def _drop_canaries(db_path: str, job_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _canary_file(db_path, job_id).unlink()


def drop_orphan_canaries(db: sqlite_utils.Database, db_path: str) -> int:
    """Remove canary files of finished jobs, or of erasures that never committed."""
    directory = canary_dir(db_path)
    if not directory.is_dir():
        return 0
    pending = {job.job_id for job in pending_jobs(db)}
    known = {r[0] for r in db.execute("SELECT id FROM erasure_jobs")}
    removed = 0
    for path in directory.glob("*.json"):
        if path.stem in pending:
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stem in known or time.time() - path.stat().st_mtime > ORPHAN_AFTER_S:
                path.unlink()
                removed += 1
    return removed


# -- running ----------------------------------------------------------------------------------

@contextlib.contextmanager
def runner_turn(db_path: str, *, wait: bool) -> Iterator[bool]:
    """Hold the right to run erasure jobs on this database; yields False if `wait` is off and
    someone else holds it."""
    with lease.holding(db_path, lease.ERASURE_RUNNER, wait=wait,
                       ttl_s=lease.DEFAULT_TTL_S) as mine:
        yield mine


def begin_erasure(db: sqlite_utils.Database, *, child_id: int, parent_id: int | None,
                  now: float, db_path: str, reason: str,
                  backup_dir: str | Path) -> ErasureJob:
    """Step one: every row about the child, the `child.erase` audit entry and the job record,
    committed together. Raises ErasureError, changing nothing, if the child is not theirs."""
    if not isinstance(child_id, int) or isinstance(child_id, bool):
        raise ErasureError("child_id must be an integer")
    job_id = new_receipt_id()
    actor = audit.subject_ref("parent", parent_id) if parent_id is not None else "system"
    # File backups and the byte-scan proof's values are SQLite's; PostgreSQL has neither.
    on_files = not is_postgres(db)
    names = ({b.path.name: PENDING for b in backups.list_backups(backup_dir)} if on_files
             else {})
    canaries_saved = False
    db.execute("BEGIN IMMEDIATE")
    try:
        lease.fence(db, lease.PURGE)  # an inactive child's erasure started by a purge
        owner = db.execute("SELECT parent_id FROM children WHERE id = ?", [child_id]).fetchone()
        if owner is None or (parent_id is not None and int(owner[0]) != parent_id):
            raise ErasureError("no such child for this parent")
        started = db.execute("SELECT id FROM erasure_jobs WHERE erased_child_id = ? AND step = ?",
                             [child_id, STEP_KEY]).fetchone()
        if started is not None:
            # Already recorded by a request that did not live to finish: finish that one.
            job_id = started[0]
        else:
            # Read while the key still exists: the proof searches the files for these.
            if on_files:
                _save_canaries(db_path, job_id, candidate_canaries(db, child_id))
                canaries_saved = True
            db.execute(
                "INSERT INTO erasure_jobs (id, erased_child_id, parent_id, reason, started_at, "
                "step, rows_json, backups_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [job_id, child_id, parent_id, reason, now, STEP_KEY,
                 json.dumps({"rows": {}, "audit_hash": ""}), json.dumps(names)])
    except BaseException:
        db.execute("ROLLBACK")
        if canaries_saved:
            _drop_canaries(db_path, job_id)
        raise
    db.execute("COMMIT")
    return destroy_key_then_rows(db, job_id, now=now, actor=actor)


def destroy_key_then_rows(db: sqlite_utils.Database, job_id: str, *, now: float,
                          actor: str) -> ErasureJob:
    """Step two: destroy the child's key, durably, then delete every row about the child with
    the `child.erase` audit entry in one transaction. Safe to repeat after a crash anywhere:
    destroying is idempotent and the rows go only while the job still says so."""
    job = load_job(db, job_id)
    if job is None:
        raise ErasureError(f"no erasure job {job_id}")
    if job.step != STEP_KEY:
        return job
    # Never blocked by a missing key: the server refuses to start with a key store that lacks
    # keys for sealed data (cloud.retention.tombstones), so a child with no key here has no
    # sealed data, and the tombstone written now keeps it erased.
    store_for(db).destroy(job.child_id, now)
    plan = erase_plan(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        lease.fence(db, lease.ERASURE_RUNNER)
        step = db.execute("SELECT step FROM erasure_jobs WHERE id = ?", [job_id]).fetchone()
        if step is None or step[0] != STEP_KEY:
            db.execute("ROLLBACK")
            return load_job(db, job_id) or job
        removed = delete_child_rows(db, job.child_id, plan)
        audit_hash = audit.append(
            db, at=now, actor=actor, action="child.erase",
            subject=audit.subject_ref("child", job.child_id),
            details={"receipt": job_id, "reason": job.reason, "tables": list(removed),
                     "rows": removed})
        db.execute("UPDATE erasure_jobs SET step = ?, rows_json = ? WHERE id = ?",
                   [STEP_BACKUPS, json.dumps({"rows": removed, "audit_hash": audit_hash}),
                    job_id])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    finished = load_job(db, job_id)
    assert finished is not None
    return finished


def _save_progress(db: sqlite_utils.Database, job_id: str, step: str,
                   done: dict[str, str]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        lease.fence(db, lease.ERASURE_RUNNER)
        db.execute("UPDATE erasure_jobs SET step = ?, backups_json = ? WHERE id = ? "
                   "AND step <> ?", [step, json.dumps(done), job_id, STEP_DONE])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def run_job(db: sqlite_utils.Database, job_id: str, *, db_path: str, backup_dir: str | Path,
            now: float, deadline: float | None = None, wait: bool = True) -> ErasureJob:
    """Carry a job on from wherever it stopped. With a `deadline` (time.monotonic()), stop
    between backups once it passes; without `wait`, return at once if another runner is busy.
    The job as it now stands is returned either way."""
    started = time.perf_counter()
    with runner_turn(db_path, wait=wait) as mine:
        job = load_job(db, job_id)
        if job is None:
            raise ErasureError(f"no erasure job {job_id}")
        if not mine or job.done:
            return job
        try:
            return _carry_on(db, job, db_path=db_path, backup_dir=backup_dir, now=now,
                             deadline=deadline, started=started)
        except lease.LeaseLost:
            # Paused past the lease: another runner has the job now; nothing of ours counted.
            log.warning("erasure %s: lease lost to another runner; leaving the job to it",
                        job_id)
            return load_job(db, job_id) or job


def _carry_on(db: sqlite_utils.Database, job: ErasureJob, *, db_path: str,
              backup_dir: str | Path, now: float, deadline: float | None,
              started: float) -> ErasureJob:
    from cloud.retention.erasure import prove_erasure

    job_id = job.job_id
    if job.step == STEP_KEY:
        job = destroy_key_then_rows(db, job_id, now=now, actor=_actor(job))
    if is_postgres(db):
        return _finish_without_files(db, job, now, started)
    backup_root = Path(backup_dir)
    backups.remove_stale_partials(backup_root)
    if job.step == STEP_BACKUPS:
        done = dict(job.backups)
        # A backup taken while this job waited may still hold the child: take it in too.
        for item in backups.list_backups(backup_root):
            done.setdefault(item.path.name, PENDING)
        for name in [n for n, state in done.items() if state == PENDING]:
            if deadline is not None and time.monotonic() >= deadline:
                _save_progress(db, job_id, STEP_BACKUPS, done)
                return load_job(db, job_id) or job
            path = backup_root / name
            held = path.exists() and backups.rewrite_backup(path, job.child_id)
            done[name] = REWRITTEN if held else CLEAN
            _save_progress(db, job_id, STEP_BACKUPS, done)
        _save_progress(db, job_id, STEP_PROOF, done)
        job = load_job(db, job_id) or job
    if deadline is not None:
        scan_s = scanned_bytes(db_path, backup_root) / PROOF_SCAN_BYTES_PER_S
        if time.monotonic() + scan_s > deadline:
            return job  # the proof is left to a runner with no deadline
    canaries = _load_canaries(db_path, job_id)
    proof = prove_erasure(db, db_path, canaries or [], backup_root, job.child_id)
    if canaries is None:
        proof = ProofResult(**{**proof.__dict__,
                               "problem": "the values to search for were lost; the files "
                                          "could not be checked for them"})
    receipt = _receipt(job, proof, now, time.perf_counter() - started)
    _record_proof(db, job, receipt, now, scope="clean" if proof.clean and
                  canaries is not None else "incomplete")
    _drop_canaries(db_path, job_id)
    return load_job(db, job_id) or job


def _actor(job: ErasureJob) -> str:
    return audit.subject_ref("parent", job.parent_id) if job.parent_id is not None else "system"


def rows_left(db: sqlite_utils.Database, child_id: int) -> dict[str, int]:
    """Rows that still name the child, per table: none may remain after its erasure."""
    plan = erase_plan(db)
    left = {table: int(db.execute(f'SELECT count(*) FROM "{table}" WHERE child_id = ?',
                                  [child_id]).fetchone()[0]) for table in plan.by_child}
    left[plan.root] = int(db.execute(f'SELECT count(*) FROM "{plan.root}" WHERE id = ?',
                                     [child_id]).fetchone()[0])
    return {table: n for table, n in left.items() if n}


def _finish_without_files(db: sqlite_utils.Database, job: ErasureJob, now: float,
                          started: float) -> ErasureJob:
    """PostgreSQL: no backup files to rewrite and no files of ours to byte-scan (its WAL,
    replicas and base backups are the server's; docs/cloud.md "Backends"), so those steps are
    recorded as not applicable and the proof checks that no row names the child any more."""
    left = rows_left(db, job.child_id)
    # The half of the proof that holds for WAL, replicas and base backups too: the key is gone
    # and nothing sealed that is left opens as the child's with any key that exists.
    keys = prove_key_erasure(db, store_for(db), job.child_id)
    proof = ProofResult(
        checkpoint_complete=True, checkpoint_attempts=0, canaries_checked=0,
        values_held_elsewhere=0, files_scanned=0, bytes_scanned=0,
        findings=[{"table": table, "rows": n} for table, n in sorted(left.items())],
        problem=keys.problem or (f"rows about the child remain in {', '.join(sorted(left))}"
                                 if left else None),
        scope=PROOF_SCOPE_ROWS, key_destroyed=keys.key_destroyed, keys_tried=keys.keys_tried,
        sealed_values_tried=keys.sealed_values_tried,
        sealed_values_readable=keys.sealed_values_readable,
        key_copies_in_store=keys.key_copies_in_store)
    receipt = _receipt(job, proof, now, time.perf_counter() - started)
    _record_proof(db, job, receipt, now, scope="rows_clean" if proof.clean else "incomplete",
                  backups={})
    return load_job(db, job.job_id) or job


def _record_proof(db: sqlite_utils.Database, job: ErasureJob, receipt: ErasureReceipt,
                  now: float, *, scope: str, backups: dict[str, str] | None = None) -> None:
    """The last step: the proof's audit entry and the finished job, in one transaction that
    runs only while this runner still holds its lease and the job is not already finished (a
    runner paused past its lease must not add a second proof after its successor's)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        lease.fence(db, lease.ERASURE_RUNNER)
        step = db.execute("SELECT step FROM erasure_jobs WHERE id = ?",
                          [job.job_id]).fetchone()
        if step is None or step[0] == STEP_DONE:
            db.execute("ROLLBACK")
            return
        audit.append(db, at=now, actor=_actor(job), action="child.erase.proof",
                     subject=audit.subject_ref("child", job.child_id),
                     details={"receipt": job.job_id, "count": len(receipt.proof.findings),
                              "scope": scope})
        db.execute("UPDATE erasure_jobs SET step = ?, receipt_json = ?, finished_at = ?"
                   + (", backups_json = ?" if backups is not None else "") + " WHERE id = ?",
                   [STEP_DONE, json.dumps(receipt.to_dict(), sort_keys=True), now,
                    *([json.dumps(backups)] if backups is not None else []), job.job_id])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _receipt(job: ErasureJob, proof: ProofResult, now: float, elapsed_s: float
             ) -> ErasureReceipt:
    retention = table_retention()
    categories = sorted({c for table, n in job.rows_removed.items() if n and table in retention
                         for c in retention[table].categories})
    return ErasureReceipt(receipt_id=job.job_id, erased_at=job.started_at, reason=job.reason,
                          rows_removed=job.rows_removed, categories=categories,
                          backups_rewritten=job.backups_rewritten, proof=proof,
                          elapsed_s=elapsed_s, audit_hash=job.audit_hash)


def receipt_of(job: ErasureJob) -> ErasureReceipt:
    """The finished job's receipt as the object erase_child has always returned."""
    if job.receipt is None:
        raise ValueError(f"erasure {job.job_id} is not finished")
    data = dict(job.receipt)
    proof = {k: v for k, v in data.pop("proof").items() if k != "clean"}
    data.pop("erased_at_iso", None)
    data.pop("total_rows", None)
    return ErasureReceipt(**data, proof=ProofResult(**proof))


def finish_pending(db: sqlite_utils.Database, *, db_path: str, backup_dir: str | Path,
                   now: float, wait: bool = True) -> list[ErasureJob]:
    """Finish every erasure a crash or a timeout left unfinished; returns them as they stand."""
    if "erasure_jobs" not in db.table_names():
        return []
    finished = [run_job(db, job.job_id, db_path=db_path, backup_dir=backup_dir, now=now,
                        wait=wait) for job in pending_jobs(db)]
    drop_orphan_canaries(db, db_path)
    return finished
