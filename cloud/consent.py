"""Which purposes a child's verified consent currently covers (R07, R11, R12)."""

from __future__ import annotations

import sqlite_utils

from cloud import audit
from cloud.seam import seam_point


def active_purposes(db: sqlite_utils.Database, child_id: int, notice_version: int) -> set[str]:
    """Purposes with an unrevoked consent given under a notice that still covers them.

    A consent given under an older notice stays valid only for purposes whose data categories
    that notice already declared; `cloud.notices` says which versions changed which purpose.
    """
    from cloud.notices import consent_still_covers

    rows = db.execute(
        "SELECT purpose, notice_version FROM consents "
        "WHERE child_id = ? AND revoked_at IS NULL",
        [child_id],
    ).fetchall()
    return {
        purpose
        for purpose, given_under in rows
        if consent_still_covers(purpose, given_under, notice_version)
    }


@seam_point("current_policy")
def current_policy(db: sqlite_utils.Database, child_id: int, notice_version: int
                   ) -> tuple[int, set[str]]:
    """(policy version, active purposes) in one read: the device API asks on every request."""
    from cloud.notices import consent_still_covers

    rows = db.execute(
        "SELECT ch.policy_version, c.purpose, c.notice_version FROM children ch "
        "LEFT JOIN consents c ON c.child_id = ch.id AND c.revoked_at IS NULL WHERE ch.id = ?",
        [child_id],
    ).fetchall()
    version = int(rows[0][0]) if rows else 0
    purposes = {
        purpose
        for _version, purpose, given_under in rows
        if purpose is not None and consent_still_covers(purpose, given_under, notice_version)
    }
    return version, purposes


def _bump_policy(db: sqlite_utils.Database, child_id: int) -> None:
    db.execute("UPDATE children SET policy_version = policy_version + 1 WHERE id = ?", [child_id])


def grant(db: sqlite_utils.Database, *, child_id: int, parent_id: int, purpose: str,
          notice_version: int, method: str, now: float) -> None:
    db.execute(
        "UPDATE consents SET revoked_at = ? WHERE child_id = ? AND purpose = ? "
        "AND revoked_at IS NULL",
        [now, child_id, purpose],
    )
    db.execute(
        "INSERT INTO consents (child_id, parent_id, purpose, notice_version, method, granted_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [child_id, parent_id, purpose, notice_version, method, now],
    )
    _bump_policy(db, child_id)
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id), action="consent.grant",
                 subject=audit.subject_ref("child", child_id),
                 details={"purpose": purpose, "method": method, "notice_version": notice_version})


@seam_point("revoke")
def revoke(db: sqlite_utils.Database, *, child_id: int, parent_id: int, purpose: str,
           now: float) -> bool:
    cursor = db.execute(
        "UPDATE consents SET revoked_at = ? WHERE child_id = ? AND purpose = ? "
        "AND revoked_at IS NULL",
        [now, child_id, purpose],
    )
    if cursor.rowcount == 0:
        return False
    _bump_policy(db, child_id)
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id), action="consent.revoke",
                 subject=audit.subject_ref("child", child_id), details={"purpose": purpose})
    return True
