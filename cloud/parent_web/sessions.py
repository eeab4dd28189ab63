"""Parent sessions kept on the server, so that signing out really ends them.

The browser's signed cookie carries only a random token; the database keeps its SHA-256 hash,
the parent it belongs to, and when it was last used. A session ends when the parent signs out
(here or everywhere), changes or resets the password, closes the account, idles past the idle
timeout, or reaches its absolute lifetime. A cookie copied before any of these reads nothing,
also after a restart, because the row it pointed to is gone.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlite_utils

# Writing `last_seen_at` on every page view would turn each read into a write; a minute's
# slack on a 30-minute idle timeout is immaterial.
TOUCH_EVERY_S = 60.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(db: sqlite_utils.Database, parent_id: int, now: float, max_s: float) -> str:
    token = secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO parent_sessions (token_hash, parent_id, created_at, last_seen_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?)",
        [token_hash(token), parent_id, now, now, now + max_s],
    )
    return token


def session_parent(db: sqlite_utils.Database, token: str, now: float,
                   idle_s: float) -> int | None:
    """The parent a live session belongs to; an idle or expired session is ended here."""
    key = token_hash(token)
    row = db.execute("SELECT parent_id, last_seen_at, expires_at FROM parent_sessions "
                     "WHERE token_hash = ?", [key]).fetchone()
    if row is None:
        return None
    parent_id, last_seen_at, expires_at = row
    if now >= expires_at or now - last_seen_at >= idle_s:
        db.execute("DELETE FROM parent_sessions WHERE token_hash = ?", [key])
        return None
    if now - last_seen_at >= TOUCH_EVERY_S:
        db.execute("UPDATE parent_sessions SET last_seen_at = ? WHERE token_hash = ?",
                   [now, key])
    return int(parent_id)


def close_session(db: sqlite_utils.Database, token: str) -> None:
    db.execute("DELETE FROM parent_sessions WHERE token_hash = ?", [token_hash(token)])


def close_all_sessions(db: sqlite_utils.Database, parent_id: int,
                       keep_token: str | None = None) -> int:
    """End every session of the parent, except the one making the request if given."""
    keep = token_hash(keep_token) if keep_token else ""
    return db.execute("DELETE FROM parent_sessions WHERE parent_id = ? AND token_hash != ?",
                      [parent_id, keep]).rowcount


def live_sessions(db: sqlite_utils.Database, parent_id: int, now: float) -> int:
    row = db.execute("SELECT COUNT(*) FROM parent_sessions WHERE parent_id = ? AND "
                     "expires_at > ?", [parent_id, now]).fetchone()
    return int(row[0])
