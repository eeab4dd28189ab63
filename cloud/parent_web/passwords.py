"""Password hashing with Argon2id; verification reads its parameters from the stored hash.

The cost parameters come from the app's `PASSWORD_HASH_PARAMS` (argon2 PasswordHasher keyword
arguments) when set, else argon2-cffi's defaults (RFC 9106 low-memory profile). Lowering them
is for test suites only; hashes made with any parameters still verify.
"""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256

_hashers: dict[tuple[tuple[str, Any], ...], tuple[PasswordHasher, str]] = {}


def _hasher() -> tuple[PasswordHasher, str]:
    """The configured hasher and a decoy hash made with it, both built once per setting."""
    params = current_app.config.get("PASSWORD_HASH_PARAMS") or {}
    key = tuple(sorted(params.items()))
    if key not in _hashers:
        hasher = PasswordHasher(**params)
        _hashers[key] = (hasher, hasher.hash("decoy password that matches no account"))
    return _hashers[key]


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True only for the right password. With no account, a decoy hash is checked so that the
    answer takes as long as for a real one and timing does not reveal which e-mails exist."""
    hasher, decoy = _hasher()
    try:
        return hasher.verify(stored_hash or decoy, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Choose a password of at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"Passwords can be at most {MAX_PASSWORD_CHARS} characters."
    return None
