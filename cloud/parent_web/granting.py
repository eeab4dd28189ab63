"""Recording consent decisions: grants after verification, revocations at once (R08-R12)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from cloud import consent
from cloud.parent_web.verification import third_party_refusal
from cloud.retention.revocation import RevocationResult, revoke_and_erase


def grant_verified(db: sqlite_utils.Database, *, child_id: int, parent_id: int,
                   purposes: Iterable[str], method: str, notice_version: int,
                   now: float) -> None:
    """All purposes or none. R09 is checked here too, whatever page led here."""
    chosen = sorted(set(purposes))
    refusal = third_party_refusal(method, chosen)
    if refusal:
        raise PermissionError(refusal)
    db.execute("BEGIN IMMEDIATE")
    try:
        for purpose in chosen:
            consent.grant(db, child_id=child_id, parent_id=parent_id, purpose=purpose,
                          notice_version=notice_version, method=method, now=now)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def revoke_all(db: sqlite_utils.Database, *, child_id: int, parent_id: int,
               purposes: Iterable[str], now: float) -> RevocationResult:
    """Revoke each purpose that is on and erase what was kept only for it (R12, R29)."""
    return revoke_and_erase(db, child_id=child_id, parent_id=parent_id, purposes=purposes,
                            now=now)
