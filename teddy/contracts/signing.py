"""Per-device signing shared by toy and cloud: HMAC-SHA256 over requests and over replies.

A request's signature covers its method, path, query string, content type, timestamp, nonce
and body, so a relay can change none of them. The cloud signs its reply to an authentic
request with the same device key, binding the reply's status and body to that request's
nonce and timestamp: a relay can neither rewrite a reply (say, widen the consent policy) nor
replay an old one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER_DEVICE = "X-Teddy-Device"
HEADER_TIMESTAMP = "X-Teddy-Timestamp"
HEADER_NONCE = "X-Teddy-Nonce"
HEADER_SIGNATURE = "X-Teddy-Signature"
HEADER_REPLY_SIGNATURE = "X-Teddy-Reply-Signature"
MAX_CLOCK_SKEW_S = 300
JSON_TYPE = "application/json"
# Each kind of message starts its signed text differently, so a request's signature can never
# pass as a reply's, nor an older form of either as the current one.
REQUEST_V2 = "teddy-request-v2"
REPLY_V1 = "teddy-reply-v1"


def split_target(target: str) -> tuple[str, str]:
    """`/api/v1/policy?x=1` -> ("/api/v1/policy", "x=1")."""
    path, _, query = target.partition("?")
    return path, query


def canonical(method: str, path: str, query: str, content_type: str, timestamp: str,
              nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([REQUEST_V2, method.upper(), path, query, content_type, timestamp,
                      nonce, digest]).encode("utf-8")


def _hmac_hex(secret: str, text: bytes) -> str:
    # hmac.digest is OpenSSL's one-shot HMAC: the same value as hmac.new(...).hexdigest().
    return hmac.digest(secret.encode("utf-8"), text, "sha256").hex()


def signature(secret: str, method: str, target: str, timestamp: str, nonce: str, body: bytes,
              content_type: str = "") -> str:
    """The request signature; `target` is the path with its query string, if any."""
    path, query = split_target(target)
    return _hmac_hex(secret, canonical(method, path, query, content_type, timestamp, nonce, body))


def default_content_type(body: bytes) -> str:
    return JSON_TYPE if body else ""


def sign_headers(device_id: str, secret: str, method: str, target: str, body: bytes,
                 now: float | None = None, content_type: str | None = None) -> dict[str, str]:
    """Headers for a signed request, with the Content-Type the signature covers (if any)."""
    kind = default_content_type(body) if content_type is None else content_type
    timestamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    headers = {
        HEADER_DEVICE: device_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature(secret, method, target, timestamp, nonce, body, kind),
    }
    if kind:
        headers["Content-Type"] = kind
    return headers


def reply_signature(secret: str, status: int, request_nonce: str, request_timestamp: str,
                    body: bytes) -> str:
    """The cloud's signature on its reply to one signed request."""
    digest = hashlib.sha256(body).hexdigest()
    text = "\n".join([REPLY_V1, str(status), request_nonce, request_timestamp, digest])
    return _hmac_hex(secret, text.encode("utf-8"))


def signature_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected, given)
