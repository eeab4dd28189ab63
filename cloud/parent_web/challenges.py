"""Two-step verification (video call, e-mail plus, text plus): a secret goes out through the
mailbox and consent is granted only when it comes back, once, before it expires."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import sqlite_utils

from cloud.parent_web import outbox
from cloud.parent_web.verification import METHODS, VerificationFailed
from cloud.seam import seam_point

MAX_ATTEMPTS = 5
LINK_TTL_S = 48 * 3600
CODE_TTL_S = 15 * 60
CONFIRMATION_DELAY_S = 24 * 3600


@dataclass(frozen=True)
class Pending:
    request_id: str
    child_id: int
    method: str
    purposes: tuple[str, ...]
    expires_at: float


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@seam_point("challenge_code_matches")
def code_matches(secret: str, stored_digest: str) -> bool:
    """Whether the code or link the parent typed is the one sent (only its digest is kept)."""
    return hmac.compare_digest(_digest(secret.strip()), stored_digest)


def start(db: sqlite_utils.Database, *, parent_id: int, parent_email: str, child_id: int,
          method: str, purposes: list[str], now: float, phone: str = "") -> str:
    """Create the pending request and "send" its secret; returns the request id."""
    if not METHODS[method].challenge:
        raise ValueError(f"{method} is checked at once, not by challenge")
    request_id = secrets.token_urlsafe(12)
    if method == "email_plus":
        secret, ttl = secrets.token_urlsafe(32), LINK_TTL_S
    else:
        secret, ttl = f"{secrets.randbelow(10**6):06d}", CODE_TTL_S
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "INSERT INTO verification_requests (id, parent_id, child_id, method, purposes_json, "
            "secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [request_id, parent_id, child_id, method, json.dumps(sorted(purposes)),
             _digest(secret), now, now + ttl],
        )
        _deliver(db, parent_id, parent_email, child_id, method, request_id, secret, now, phone)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return request_id


def _deliver(db: sqlite_utils.Database, parent_id: int, parent_email: str, child_id: int,
             method: str, request_id: str, secret: str, now: float, phone: str) -> None:
    common = {"parent_id": parent_id, "child_id": child_id, "now": now}
    if method == "email_plus":
        link = f"/parent/verify/{request_id}?token={secret}"
        outbox.send(db, channel="email", recipient=parent_email,
                    subject="Confirm your consent for Teddy",
                    body="You asked to give consent for your child's Teddy toy. Open the link "
                         "below while signed in to confirm. It works once and expires in 48 "
                         "hours. If this was not you, ignore this e-mail: nothing changes.",
                    link=link, **common)
    elif method == "text_plus":
        outbox.send(db, channel="sms", recipient=outbox.mask_phone(phone),
                    subject="Teddy consent code",
                    body=f"Teddy: your consent code is {secret}. It expires in 15 minutes. "
                         "If you did not ask for it, ignore this message.", **common)
    else:
        outbox.send(db, channel="call", recipient="video call",
                    subject="Notes from your verification call",
                    body="Sam from Teddy Family Support saw your photo ID on camera and "
                         f"confirmed it matches you. Your confirmation code is {secret}; "
                         "it expires in 15 minutes.", **common)


def pending(db: sqlite_utils.Database, request_id: str, parent_id: int,
            now: float) -> Pending | None:
    row = db.execute(
        "SELECT child_id, method, purposes_json, expires_at FROM verification_requests "
        "WHERE id = ? AND parent_id = ? AND expires_at > ?",
        [request_id, parent_id, now],
    ).fetchone()
    if row is None:
        return None
    return Pending(request_id, int(row[0]), row[1], tuple(json.loads(row[2])), float(row[3]))


def redeem(db: sqlite_utils.Database, request_id: str, parent_id: int, secret: str,
           now: float) -> Pending:
    """Single use; after MAX_ATTEMPTS wrong secrets the request is withdrawn."""
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(
            "SELECT secret_hash, attempts FROM verification_requests "
            "WHERE id = ? AND parent_id = ? AND expires_at > ?",
            [request_id, parent_id, now],
        ).fetchone()
        found = pending(db, request_id, parent_id, now)
        if row is None or found is None:
            db.execute("COMMIT")
            raise VerificationFailed("This verification has expired or was already used. "
                                     "Start again from your child's consent page.")
        if not code_matches(secret, row[0]):
            attempts = int(row[1]) + 1
            if attempts >= MAX_ATTEMPTS:
                db.execute("DELETE FROM verification_requests WHERE id = ?", [request_id])
                message = "Too many wrong codes. Start again from your child's consent page."
            else:
                db.execute("UPDATE verification_requests SET attempts = ? WHERE id = ?",
                           [attempts, request_id])
                message = (f"That code is not right. {MAX_ATTEMPTS - attempts} "
                           f"attempt{'s' if MAX_ATTEMPTS - attempts != 1 else ''} left.")
            db.execute("COMMIT")
            raise VerificationFailed(message)
        db.execute("DELETE FROM verification_requests WHERE id = ?", [request_id])
        db.execute("COMMIT")
    except VerificationFailed:
        raise
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found


def send_delayed_confirmation(db: sqlite_utils.Database, *, parent_id: int, parent_email: str,
                              child_id: int, method: str, titles: list[str], now: float) -> None:
    """E-mail plus and text plus end with a confirmation sent a day later (COPPA 312.5(b))."""
    channel = "email" if method == "email_plus" else "sms"
    recipient = parent_email if channel == "email" else "your phone"
    outbox.send(db, parent_id=parent_id, child_id=child_id, channel=channel,
                recipient=recipient, subject="We are confirming the consent you gave",
                body=f"A day ago you allowed: {', '.join(titles)}. If that was not you, or you "
                     "changed your mind, turn it off on your child's consent page at any "
                     "time; it takes effect on the toy's next request.",
                link=f"/parent/children/{child_id}/consent", now=now,
                delay_s=CONFIRMATION_DELAY_S)
