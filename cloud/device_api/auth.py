"""Verifying a toy's signed request: known device, valid HMAC, fresh timestamp, unused nonce.

The signature is checked before the timestamp so that an authentic request from a toy whose
clock is off gets a signed answer saying so (with the cloud's time), rather than the same
401 a forger gets; the toy can then report a clock problem instead of a lost pairing. Every
reply to an authentic request is signed with the device key (`sign_reply`).

Checking the signature and recording the nonce are separate steps on purpose: a request whose
body turns out to be invalid must change nothing (R28), so the nonce is only recorded once the
request is about to be acted on, inside the same transaction as whatever it writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlite_utils
from flask import Request, Response, g

from cloud.seam import seam_point
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


@dataclass(frozen=True)
class _ReplyKey:
    secret: str
    nonce: str
    timestamp: str


class AuthError(Exception):
    """The request is unsigned, forged, stale or replayed: always a 401, never more detail."""


class ClockSkew(AuthError):
    """An authentic request whose timestamp is outside the window: the toy's clock is off."""

    def __init__(self, server_time: float, request_time: int) -> None:
        super().__init__("timestamp outside the allowed window")
        self.server_time = server_time
        self.skew_s = request_time - server_time


@seam_point("max_clock_skew_s")
def max_clock_skew_s() -> int:
    """How far a signed request's time may be from the cloud's: the contract's window."""
    return signing.MAX_CLOCK_SKEW_S


@seam_point("verify_signature")
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
    row = db.execute("SELECT secret, child_id FROM devices WHERE id = ?", [device_id]).fetchone()
    if row is None:
        raise AuthError("unknown device")
    secret, child_id = row
    target = request.path
    query = request.query_string.decode("latin-1")
    if query:
        target += "?" + query
    expected = signing.signature(secret, request.method, target, timestamp, nonce,
                                 request.get_data(cache=True),
                                 str(environ.get("CONTENT_TYPE", "")))
    if not signing.signature_matches(expected, given):
        raise AuthError("bad signature")
    # From here on the request is the device's own: whatever the cloud answers, it signs.
    g.teddy_reply_key = _ReplyKey(str(secret), nonce, timestamp)
    if abs(int(timestamp) - now) > max_clock_skew_s():
        raise ClockSkew(now, int(timestamp))
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
            "INSERT INTO seen_nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
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


def sign_reply(response: Response) -> Response:
    """Sign the reply to an authentic device request (an `after_request` hook)."""
    key: _ReplyKey | None = g.pop("teddy_reply_key", None)
    if key is not None and not response.direct_passthrough:
        response.headers[signing.HEADER_REPLY_SIGNATURE] = signing.reply_signature(
            key.secret, response.status_code, key.nonce, key.timestamp, response.get_data())
    return response
