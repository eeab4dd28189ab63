"""Pairing: a short code a parent reads off the web page becomes a per-device secret."""

from __future__ import annotations

import secrets

import sqlite_utils

from cloud import audit
from cloud.storage.db import write_transaction
from teddy.contracts.pairing_code import CODE_ALPHABET, normalise_code

__all__ = ["CODE_ALPHABET", "CODE_TTL_S", "issue_code", "normalise_code", "redeem",
           "redeem_in_transaction"]

CODE_TTL_S = 15 * 60


def issue_code(db: sqlite_utils.Database, child_id: int, now: float) -> str:
    db.execute("DELETE FROM pairing_codes WHERE child_id = ? OR expires_at <= ?", [child_id, now])
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        code = f"{code[:4]}-{code[4:]}"
        if db.execute("SELECT 1 FROM pairing_codes WHERE code = ?", [code]).fetchone() is None:
            break
    db.execute("INSERT INTO pairing_codes (code, child_id, expires_at) VALUES (?, ?, ?)",
               [code, child_id, now + CODE_TTL_S])
    return code


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
