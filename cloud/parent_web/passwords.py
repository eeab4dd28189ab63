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


# NIST SP 800-63B asks to refuse passwords found in breach corpuses, dictionary words and
# repetitive or sequential characters. These are among the most common passwords of ten
# characters or more in public breach lists; shorter ones already fail the length rule.
_COMMON = """
1234567890 0123456789 0987654321 9876543210 1234567891 1111111111 0000000000 1234512345
1122334455 1q2w3e4r5t 1qaz2wsx3edc qwertyuiop qwertyuiop1 asdfghjkl1 zxcvbnm123 qwerty qwerty1234
qwerty12345 qwerty123456 password12 password123 password1234 password12345 passw0rd123
iloveyou12 iloveyou123 princess12 sunshine12 football12 baseball12 superman12 1q2w3e4r5t6y
abcdefghij abcd123456 abc1234567 a123456789 123456789a 12345678910 123456789q 123qweasdzxc
qwe123qwe123 zaq12wsxcde password password1 letmein123 welcome123 welcome1234 admin12345
changeme123 trustno1234 dragon1234 monkey1234 michael123 charlie123 computer12 whatever12
starwars12 pokemon123 freedom123 mustang123 jennifer12 jordan2323 liverpool1 chelsea123
arsenal123 manchester samsung123 internet12 mypassword mypassword1 secret1234 teddybear1
teddybear12 teddybear123 correcthorse letmeinplease passwordpassword iloveyou princess
sunshine football
baseball superman monkey dragon letmein welcome trustno1 starwars qwertyqwerty
"""
COMMON_PASSWORDS = frozenset(_COMMON.split())
_SEQUENCES = ("0123456789" * 3, "abcdefghijklmnopqrstuvwxyz" * 2,
              "qwertyuiopasdfghjklzxcvbnm", "1q2w3e4r5t6y7u8i9o0p")


def _is_sequence(text: str) -> bool:
    return any(text in seq or text in seq[::-1] for seq in _SEQUENCES)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a new password is refused, in words a parent can act on; None if it is fine."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Choose a password of at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"Passwords can be at most {MAX_PASSWORD_CHARS} characters."
    folded = password.strip().lower()
    if len(set(folded.replace(" ", ""))) < 4:
        return "That password repeats a few characters. Choose one that is harder to guess."
    if _is_sequence(folded.replace(" ", "")):
        return "That password is a run of keys or digits. Choose one that is harder to guess."
    # A common password with a digit or mark added at the end is just as common.
    variants = {folded, folded.rstrip("!.?* "), folded.rstrip("0123456789!.?* ")}
    if any(len(v) >= 6 and v in COMMON_PASSWORDS for v in variants):
        return "That password is one of the most common ones. Choose one that is harder to guess."
    if email and _mostly_the_address(folded.replace(" ", ""), email.strip().lower()):
        return ("Do not use your e-mail address (or most of it) as your password: it is the "
                "first thing someone would try. Choose something else.")
    return None


def _mostly_the_address(folded: str, email: str) -> bool:
    """Whether, with the address (or its part before the @) taken out, little is left."""
    local = email.split("@", 1)[0]
    rest = folded.replace(email, "")
    if len(local) >= 4:
        rest = rest.replace(local, "")
    return len(rest) < 6 and rest != folded
