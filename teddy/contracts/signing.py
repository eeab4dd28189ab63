"""Per-device request signing shared by toy and cloud: HMAC-SHA256 over the whole request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER_DEVICE = "X-Teddy-Device"
HEADER_TIMESTAMP = "X-Teddy-Timestamp"
HEADER_NONCE = "X-Teddy-Nonce"
HEADER_SIGNATURE = "X-Teddy-Signature"
MAX_CLOCK_SKEW_S = 300


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path, timestamp, nonce, digest]).encode("utf-8")


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    # hmac.digest is OpenSSL's one-shot HMAC: the same value as hmac.new(...).hexdigest().
    return hmac.digest(
        secret.encode("utf-8"), canonical(method, path, timestamp, nonce, body), "sha256"
    ).hex()


def sign_headers(
    device_id: str, secret: str, method: str, path: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    return {
        HEADER_DEVICE: device_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret, method, path, timestamp, nonce, body),
    }


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected, given)
