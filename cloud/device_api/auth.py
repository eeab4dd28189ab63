"""Verifying a toy's signed request: known device, fresh timestamp, unused nonce, valid HMAC.

Checking the signature and recording the nonce are separate steps on purpose: a request whose
body turns out to be invalid must change nothing (R28), so the nonce is only recorded once the
request is about to be acted on, inside the same transaction as whatever it writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlite_utils
from flask import Request

from cloud.storage.db import write_transaction
from teddy.contracts import signing

NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
# The device id's exact form belongs to the contract; here it only has to be a sane lookup key.
MAX_DEVICE_ID_CHARS = 64
# A nonce can only be replayed while its timestamp is inside the window on either side of the
# moment it was first seen, so after twice the window it protects nothing and may go.
NONCE_KEEP_S = 2 * signing.MAX_CLOCK_SKEW_S
PRUNE_EVERY_S = 60.0
_SIGNED_HEADER_KEYS = tuple(
    "HTTP_" + name.upper().replace("-", "_")
    for name in (signing.HEADER_DEVICE, signing.HEADER_TIMESTAMP, signing.HEADER_NONCE,
                 signing.HEADER_SIGNATURE)
)


@dataclass(frozen=True)
class AuthenticatedDevice:
    device_id: str
    child_id: int
    nonce: str


class AuthError(Exception):
    """The request is unsigned, forged, stale or replayed: always a 401, never more detail."""


def verify_signature(db: sqlite_utils.Database, request: Request,
                     now: float) -> AuthenticatedDevice:
    """Check everything but the nonce's freshness; writes nothing."""
    # Read from the WSGI environ: the headers view normalises names on every lookup, and these
    # four are read on every device request.
    environ = request.environ
    device_id, timestamp, nonce, given = (str(environ.get(key, "")) for key in _SIGNED_HEADER_KEYS)
    if not (0 < len(device_id) <= MAX_DEVICE_ID_CHARS and TIMESTAMP_PATTERN.fullmatch(timestamp)
            and NONCE_PATTERN.fullmatch(nonce) and SIGNATURE_PATTERN.fullmatch(given)):
        raise AuthError("missing or malformed signature headers")
    if abs(int(timestamp) - now) > signing.MAX_CLOCK_SKEW_S:
        raise AuthError("timestamp outside the allowed window")
    row = db.execute("SELECT secret, child_id FROM devices WHERE id = ?", [device_id]).fetchone()
    if row is None:
        raise AuthError("unknown device")
    secret, child_id = row
    expected = signing.signature(secret, request.method, request.path, timestamp, nonce,
                                 request.get_data(cache=True))
    if not signing.signature_matches(expected, given):
        raise AuthError("bad signature")
    return AuthenticatedDevice(device_id=device_id, child_id=int(child_id), nonce=nonce)


class NonceBook:
    """Records nonces and, at most once a minute per worker, forgets those too old to matter."""

    def __init__(self) -> None:
        self._next_prune_at = 0.0

    def consume(self, db: sqlite_utils.Database, device: AuthenticatedDevice, now: float) -> None:
        """Record the request's nonce; raises AuthError if it was seen before (a replay).

        Call inside the request's write transaction so a rolled-back request leaves no nonce.
        """
        if now >= self._next_prune_at:
            db.execute("DELETE FROM seen_nonces WHERE seen_at < ?", [now - NONCE_KEEP_S])
            self._next_prune_at = now + PRUNE_EVERY_S
        # Only a genuine request reaches here, so forgeries cannot fill the table.
        inserted = db.execute(
            "INSERT OR IGNORE INTO seen_nonces (device_id, nonce, seen_at) VALUES (?, ?, ?)",
            [device.device_id, device.nonce, now],
        ).rowcount
        if inserted == 0:
            raise AuthError("replayed request")


nonces = NonceBook()


def authenticate(db: sqlite_utils.Database, request: Request, now: float) -> AuthenticatedDevice:
    """Verify and record the nonce in one step, for requests that carry no body to validate."""
    device = verify_signature(db, request, now)
    with write_transaction(db):
        nonces.consume(db, device, now)
    return device
