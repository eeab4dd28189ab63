"""Pairing: a short code a parent reads off the web page becomes a per-device secret.

A code's first three characters are its locator (teddy.contracts.pairing_code): no two live
codes share one, so a typed code names at most one pending pairing. Wrong tries at a pending
code are counted against that code, from every address together, in the pairing throttle's
table (`pairing_failures`, scope `code:` + a keyed hash of the code, never the code itself);
after `WRONG_TRIES_PER_CODE` of them the code is withdrawn: it never pairs, the toy is told
so, and the parent page says so and offers a new code. Why 25: see
cloud.device_api.pairing_throttle.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlite_utils

from cloud import audit
from cloud.storage.db import write_transaction
from teddy.contracts.pairing_code import (
    CODE_ALPHABET,
    CODE_LENGTH,
    LOCATOR_LENGTH,
    code_locator,
    normalise_code,
)

__all__ = ["CODE_ALPHABET", "CODE_TTL_S", "PairingCodesExhausted", "PendingCode",
           "WRONG_TRIES_PER_CODE", "issue_code", "normalise_code", "pending_code",
           "pending_code_of_child", "redeem", "redeem_in_transaction"]

CODE_TTL_S = 15 * 60
WRONG_TRIES_PER_CODE = 25
# Random draws before giving up on finding a free locator: with 29,791 locators, a draw
# fails only while most of them are live, and 200 failures in a row then mean "full".
_LOCATOR_DRAWS = 200
_LOCATOR_SQL = f"substr(code, 1, {LOCATOR_LENGTH})"  # a literal: the same SQL on both backends


class PairingCodesExhausted(RuntimeError):
    """Nearly every locator belongs to a live code: no new code until some expire (minutes)."""


@dataclass(frozen=True)
class PendingCode:
    """A live code as stored: what a typed code's locator names."""

    code: str
    child_id: int
    expires_at: float

    def counter(self, key: bytes) -> tuple[str, float]:
        """Its wrong-tries row in `pairing_failures`: a keyed hash, and the moment it was
        issued (so the retention purge drops the row a day later)."""
        digest = hmac.new(key, self.code.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"code:{digest[:32]}", self.expires_at - CODE_TTL_S

    def wrong_tries(self, db: sqlite_utils.Database, key: bytes) -> int:
        row = db.execute("SELECT failures FROM pairing_failures WHERE scope = ? AND "
                         "window_start = ?", list(self.counter(key))).fetchone()
        return int(row[0]) if row else 0

    def matches(self, typed: str) -> bool:
        """Whether `typed` is this code, compared in constant time."""
        return hmac.compare_digest(normalise_code(typed).encode(), self.code.encode())


def issue_code(db: sqlite_utils.Database, child_id: int, now: float) -> str:
    """A new code for the child (replacing its old one) whose locator no live code has."""
    db.execute("DELETE FROM pairing_codes WHERE child_id = ? OR expires_at <= ?", [child_id, now])
    for _ in range(_LOCATOR_DRAWS):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        code = f"{code[:4]}-{code[4:]}"
        if db.execute(f"SELECT 1 FROM pairing_codes WHERE {_LOCATOR_SQL} = ?",
                      [code[:LOCATOR_LENGTH]]).fetchone() is None:
            break
    else:
        raise PairingCodesExhausted("too many pairing codes are waiting to be used right now; "
                                    "try again in a few minutes")
    db.execute("INSERT INTO pairing_codes (code, child_id, expires_at) VALUES (?, ?, ?)",
               [code, child_id, now + CODE_TTL_S])
    return code


def pending_code(db: sqlite_utils.Database, typed: str, now: float) -> PendingCode | None:
    """The live code a typed code's locator names, right or wrong after it; None if none."""
    locator = code_locator(typed)
    if not locator:
        return None
    row = db.execute(f"SELECT code, child_id, expires_at FROM pairing_codes WHERE "
                     f"{_LOCATOR_SQL} = ? AND expires_at > ?", [locator, now]).fetchone()
    return PendingCode(str(row[0]), int(row[1]), float(row[2])) if row else None


def pending_code_of_child(db: sqlite_utils.Database, child_id: int,
                          now: float) -> PendingCode | None:
    row = db.execute("SELECT code, child_id, expires_at FROM pairing_codes WHERE child_id = ? "
                     "AND expires_at > ? ORDER BY expires_at DESC LIMIT 1",
                     [child_id, now]).fetchone()
    return PendingCode(str(row[0]), int(row[1]), float(row[2])) if row else None


def redeem(db: sqlite_utils.Database, code: str, now: float) -> tuple[str, str, int] | None:
    """Single use: returns (device_id, secret, child_id), or None for an unknown/expired code."""
    with write_transaction(db):
        return redeem_in_transaction(db, code, now)


def redeem_in_transaction(db: sqlite_utils.Database, code: str,
                          now: float) -> tuple[str, str, int] | None:
    """`redeem` inside the caller's write transaction (the pairing throttle counts a wrong
    code in the same one); writes nothing for an unknown or expired code."""
    code = normalise_code(code)
    row = db.execute(
        "SELECT child_id FROM pairing_codes WHERE code = ? AND expires_at > ?", [code, now]
    ).fetchone()
    if row is None:
        return None
    child_id = int(row[0])
    device_id = f"toy-{secrets.token_hex(8)}"
    secret = secrets.token_hex(32)
    db.execute("DELETE FROM pairing_codes WHERE code = ?", [code])
    db.execute("INSERT INTO devices (id, child_id, secret, paired_at) VALUES (?, ?, ?, ?)",
               [device_id, child_id, secret, now])
    audit.append(db, at=now, actor="system", action="device.pair",
                 subject=audit.subject_ref("child", child_id), details={"device": device_id})
    return device_id, secret, child_id
