"""Sealing one value with a child's key: AES-256-GCM, bound to where the value lives.

A sealed value is text, so it fits the TEXT columns it replaces on both backends:

    tk1:<base64url(nonce || ciphertext || tag)>

`tk1` names the format (version 1: AES-256-GCM, 96-bit random nonce, 128-bit tag). The
associated data names the child, the table and the column, so a sealed value copied into
another child's row or another field fails to open instead of being read as theirs.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "tk1:"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class EnvelopeError(ValueError):
    """A value that is not a sealed value, or that this key and place cannot open."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def associated_data(child_id: int, table: str, column: str) -> bytes:
    if not isinstance(child_id, int) or isinstance(child_id, bool):
        raise TypeError("child_id must be an integer")
    return f"teddy/{PREFIX[:-1]}|child:{child_id}|{table}.{column}".encode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


Key = bytes | AESGCM


def _cipher(key: Key) -> AESGCM:
    # A request seals or opens several values with one child's key: the key store hands out
    # the cipher it already built instead of the raw key.
    return key if isinstance(key, AESGCM) else AESGCM(key)


def seal(key: Key, plaintext: str, *, child_id: int, table: str, column: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    body = _cipher(key).encrypt(nonce, plaintext.encode("utf-8"),
                               associated_data(child_id, table, column))
    return PREFIX + base64.urlsafe_b64encode(nonce + body).decode("ascii")


def parts(sealed: str) -> tuple[bytes, bytes]:
    if not is_sealed(sealed):
        raise EnvelopeError(f"not a sealed value (expected the {PREFIX!r} prefix)")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(PREFIX):].encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise EnvelopeError("a sealed value whose body is not base64url") from exc
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise EnvelopeError("a sealed value too short to hold a nonce and a tag")
    return raw[:NONCE_BYTES], raw[NONCE_BYTES:]


def open_sealed(key: Key, sealed: str, *, child_id: int, table: str, column: str) -> str:
    nonce, body = parts(sealed)
    try:
        plain = _cipher(key).decrypt(nonce, body, associated_data(child_id, table, column))
    except InvalidTag as exc:
        raise EnvelopeError(f"cannot open a sealed {table}.{column} of child {child_id} "
                            "with this key") from exc
    return plain.decode("utf-8")
