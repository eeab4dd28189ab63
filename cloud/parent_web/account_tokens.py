"""One-time links for a parent's account: confirming a sign-up and resetting a password.

Only a SHA-256 hash of each token is stored, so reading the database gives no working link.
A token works once (it is deleted when used), expires, and a new one of the same purpose
replaces the old. The link itself travels by (simulated) e-mail, through the mailbox.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlite_utils

CONFIRM_SIGNUP = "confirm_signup"
RESET_PASSWORD = "reset_password"
LIFETIME_S = {CONFIRM_SIGNUP: 24 * 3600.0, RESET_PASSWORD: 3600.0}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(db: sqlite_utils.Database, parent_id: int, purpose: str, now: float) -> str:
    db.execute("DELETE FROM parent_tokens WHERE parent_id = ? AND purpose = ?",
               [parent_id, purpose])
    token = secrets.token_urlsafe(32)
    db.execute("INSERT INTO parent_tokens (token_hash, parent_id, purpose, created_at, "
               "expires_at) VALUES (?, ?, ?, ?, ?)",
               [_hash(token), parent_id, purpose, now, now + LIFETIME_S[purpose]])
    return token


def peek(db: sqlite_utils.Database, token: str, purpose: str, now: float) -> int | None:
    """The parent a live token belongs to, without using it up (to show the form)."""
    row = db.execute("SELECT parent_id FROM parent_tokens WHERE token_hash = ? AND purpose = ? "
                     "AND expires_at > ?", [_hash(token), purpose, now]).fetchone()
    return int(row[0]) if row else None


def redeem(db: sqlite_utils.Database, token: str, purpose: str, now: float) -> int | None:
    """Use the token up: the parent it belonged to, or None if unknown, used or expired."""
    parent = peek(db, token, purpose, now)
    deleted = db.execute("DELETE FROM parent_tokens WHERE token_hash = ? AND purpose = ?",
                         [_hash(token), purpose]).rowcount
    # Only the request that deleted the row may use it, even if two arrive together.
    return parent if deleted else None
