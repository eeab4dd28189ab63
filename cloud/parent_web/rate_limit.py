"""Sign-in throttling: failed attempts per e-mail address and per client address.

Neither the address nor the e-mail is stored: each attempt is kept as a keyed hash (HMAC with
the server's secret), enough to count attempts and useless to anyone reading the table.

An attempt is counted before its password is checked, by `reserve`, which checks the limit
and counts the attempt in one write transaction (one writer at a time, across every app
server, on SQLite and PostgreSQL alike). Counting afterwards let simultaneous guesses all see
the same count: 11 of 40 were checked against a limit of 5. A correct password takes its
attempt back (`forget`, `give_back`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import sqlite_utils

from cloud.storage.db import write_transaction

WINDOW_S = 15 * 60
KEEP_S = 24 * 3600


def attempt_key(secret: str, kind: str, value: str) -> str:
    message = f"{kind}:{value.strip().lower()}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def retry_after_s(db: sqlite_utils.Database, keys: Iterable[str], now: float,
                  limit: int) -> float | None:
    """Seconds until another attempt is allowed, or None if every key is under the limit."""
    waits: list[float] = []
    for key in keys:
        rows = db.execute(
            "SELECT attempted_at FROM login_attempts WHERE key_hash = ? AND attempted_at > ? "
            "ORDER BY attempted_at DESC LIMIT ?",
            [key, now - WINDOW_S, limit],
        ).fetchall()
        if len(rows) >= limit:
            # The oldest of the last `limit` failures must leave the window first.
            waits.append(rows[-1][0] + WINDOW_S - now)
    return max(waits) if waits else None


def record_failure(db: sqlite_utils.Database, keys: Iterable[str], now: float) -> None:
    db.execute("DELETE FROM login_attempts WHERE attempted_at < ?", [now - KEEP_S])
    for key in keys:
        db.execute("INSERT INTO login_attempts (key_hash, attempted_at) VALUES (?, ?)",
                   [key, now])


def forget(db: sqlite_utils.Database, key: str) -> None:
    db.execute("DELETE FROM login_attempts WHERE key_hash = ?", [key])


def reserve(db: sqlite_utils.Database, keys_and_limits: Iterable[tuple[str, int]],
            now: float) -> float | None:
    """Count one attempt against every key if all are under their limits, atomically.

    Returns None when the attempt may go ahead (it is already counted), or the seconds to wait
    (and then nothing was counted).
    """
    pairs = list(keys_and_limits)
    with write_transaction(db):
        waits = [retry_after_s(db, [key], now, limit) for key, limit in pairs]
        known = [w for w in waits if w is not None]
        if known:
            return max(known)
        record_failure(db, [key for key, _limit in pairs], now)
    return None


def give_back(db: sqlite_utils.Database, key: str, now: float) -> None:
    """Uncount the attempt `reserve` counted at `now` against `key` (it succeeded)."""
    db.execute("DELETE FROM login_attempts WHERE id IN (SELECT id FROM login_attempts "
               "WHERE key_hash = ? AND attempted_at = ? LIMIT 1)", [key, now])
