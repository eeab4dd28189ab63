"""Removing what has outlived its retention (R16) and children inactive too long (R21).

Every table in the data map is either covered by an expiry rule here or listed as exempt with
the reason; a test holds the two lists against the map so a new table cannot be forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from cloud import audit
from cloud.fleet import lease
from cloud.retention import backup as backups
from cloud.retention import bulk
from cloud.retention.checkpoint import checkpoint_truncate
from cloud.retention.policy import DAY_S, retention_s
from cloud.seam import seam_point
from cloud.storage.db import in_transaction, is_postgres

# table -> (WHERE clause, which "now" its single parameter is: the moment itself, or the moment
# minus the table's retention from the data map). Rows carrying their own expires_at were
# stamped from the data map when written; the others are aged from their timestamp here.
EXPIRY_RULES: dict[str, tuple[str, bool]] = {
    "intent_events": ("expires_at <= ?", False),
    "profile_facts": ("expires_at <= ?", False),
    "pairing_codes": ("expires_at <= ?", False),
    "seen_nonces": ("seen_at <= ?", True),
    "consents": ("revoked_at IS NOT NULL AND revoked_at <= ?", True),
    "devices": ("COALESCE(last_seen_at, paired_at) <= ?", True),
    "login_attempts": ("attempted_at <= ?", True),
    "verification_requests": ("expires_at <= ?", False),
    "parent_outbox": ("expires_at <= ?", False),
    "pairing_failures": ("window_start <= ?", True),
    "erasure_jobs": ("finished_at IS NOT NULL AND finished_at <= ?", True),
    "parent_sessions": ("expires_at <= ?", False),
    "parent_tokens": ("expires_at <= ?", False),
    "processed_messages": ("expires_at <= ?", False),
}
EXEMPT = {
    "children": "deleted whole, with everything about them, after inactivity (erase_child)",
    "parents": "the parent's own account, kept until the parent closes it",
    "audit_log": "append-only and hash-chained; holds no child content (R27)",
    "schema_migrations": "schema bookkeeping with no personal data",
    "leases": "one row per kind of lease, overwritten by each holder; its times are the "
              "servers' real clocks, not the cloud's (cloud.fleet.lease)",
    "server_secrets": "the key every app server signs sessions with; dropping it signs "
                      "every parent out (cloud.fleet.session_key)",
}


@dataclass
class PurgeReport:
    now: float
    rows: dict[str, int] = field(default_factory=dict)
    children_erased: int = 0
    erasures_finished: int = 0
    receipts: list[str] = field(default_factory=list)
    backups_deleted: int = 0
    backups_rewritten: int = 0
    checkpoint_complete: bool = True
    vacuumed: bool = False
    elapsed_s: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@seam_point("delete_expired")
def delete_expired(db: sqlite_utils.Database, now: float, *,
                   allow_vacuum: bool = False) -> tuple[dict[str, int], bool]:
    """Run every expiry rule in the caller's transaction.

    Returns rows removed per table, and whether the caller must VACUUM after committing
    (see `bulk`): only ever True when `allow_vacuum` is.
    """
    present = set(db.table_names())
    removed: dict[str, int] = {}
    vacuum_needed = False
    for table, (where, aged) in EXPIRY_RULES.items():
        if table not in present:
            continue
        cutoff = now - retention_s(table) if aged else now
        if table == "devices":
            # A forgotten toy takes its request numbers with it.
            removed["seen_nonces"] = removed.get("seen_nonces", 0) + db.execute(
                "DELETE FROM seen_nonces WHERE device_id IN "
                f"(SELECT id FROM devices WHERE {where})", [cutoff]).rowcount
        deletion = bulk.delete_where(db, table, where, cutoff, allow_vacuum=allow_vacuum)
        removed[table] = removed.get(table, 0) + deletion.rows
        vacuum_needed = vacuum_needed or deletion.vacuum_needed
    return removed, vacuum_needed


def referenced_tables(db: sqlite_utils.Database) -> set[str]:
    """Tables some foreign key points at: deleting from them may need a cascade."""
    parents: set[str] = set()
    for table in db.table_names():
        parents.update(row[2] for row in db.execute(f"PRAGMA foreign_key_list([{table}])"))
    return parents


@contextmanager
def _without_fk_checks_if_safe(db: sqlite_utils.Database) -> Iterator[None]:
    """The purge deletes only from tables no foreign key points at, so no cascade or check can
    be needed; SQLite still pays a parent lookup per deleted child row, which measured about a
    third of a bulk purge's time. Checks stay on if a rule ever touches a referenced table."""
    if set(EXPIRY_RULES) & referenced_tables(db):
        yield
        return
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def database_path(db: sqlite_utils.Database) -> str:
    for _seq, name, path in db.execute("PRAGMA database_list"):
        if name == "main":
            return str(path)
    raise RuntimeError("connection has no main database")


@seam_point("purge_expired")
def purge_expired(db: sqlite_utils.Database, now: float, *, inactive_profile_days: int = 180,
                  backup_dir: str | Path | None = None, checkpoint: bool = True) -> PurgeReport:
    """Delete expired rows, erase inactive children, age the backups, then checkpoint."""
    if inactive_profile_days <= 0:
        raise ValueError("inactive_profile_days must be a positive number of days")
    if in_transaction(db):
        raise RuntimeError("purge_expired commits itself; call it outside a transaction")
    from cloud.retention.erasure import REASON_INACTIVE, finish_erasures
    from cloud.retention.jobs import begin_erasure

    started = time.perf_counter()
    report = PurgeReport(now=now)
    # On PostgreSQL there is no file: no vacuum marker, no PRAGMA tricks, no file backups.
    on_file = not is_postgres(db)
    db_path = database_path(db) if on_file else db.url
    marker = bulk.vacuum_marker(db_path) if on_file else None
    if marker is not None and marker.exists():
        # A previous purge freed pages without zeroing them and did not live to VACUUM.
        bulk.vacuum(db, db_path)
        report.vacuumed = True
    if on_file:
        bulk.prepare(db)
    with _without_fk_checks_if_safe(db) if on_file else nullcontext():
        db.execute("BEGIN IMMEDIATE")
        try:
            # A purge paused past its lease while another server's purge ran writes nothing.
            lease.fence(db, lease.PURGE)
            report.rows, vacuum_needed = delete_expired(db, now, allow_vacuum=on_file)
            if vacuum_needed and marker is not None:
                marker.touch()
            report.rows["audit_log"] = audit.trim(
                db, now=now, keep_days=retention_s("audit_log") / DAY_S)
            if report.total_rows:
                audit.append(db, at=now, actor="system", action="retention.purge",
                             subject="system",
                             details={"rows": {t: n for t, n in report.rows.items() if n},
                                      "count": report.total_rows})
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    if vacuum_needed:
        bulk.vacuum(db, db_path)
        report.vacuumed = True

    backup_root = backups.backup_dir_for(db_path, backup_dir)
    inactive_before = now - inactive_profile_days * DAY_S
    stale = [int(r[0]) for r in db.execute(
        "SELECT id FROM children WHERE last_active_at <= ? ORDER BY id", [inactive_before])]
    # Each erasure is committed and recorded first; all of them, and any a crash or timeout
    # left unfinished, are then finished together (R32).
    for child_id in stale:
        job = begin_erasure(db, child_id=child_id, parent_id=None, now=now, db_path=db_path,
                            reason=REASON_INACTIVE, backup_dir=backup_root)
        report.children_erased += 1
        report.receipts.append(job.job_id)
    report.erasures_finished = len(
        finish_erasures(db, db_path=db_path, backup_dir=backup_root, now=now))

    if on_file:
        aged = backups.purge_backups(backup_root, now)
        report.backups_deleted, report.backups_rewritten = aged.deleted, aged.rewritten
    if checkpoint:
        report.checkpoint_complete = checkpoint_truncate(db).complete
    report.elapsed_s = time.perf_counter() - started
    return report
