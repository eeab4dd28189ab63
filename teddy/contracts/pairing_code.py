"""The pairing code a parent reads off the web page and types on the toy: one format, shared.

Eight letters and digits from an alphabet without look-alikes, shown as two groups of four
(`K7QM-X3PA`). Case, spaces and dashes do not matter when it is typed back.

The first `LOCATOR_LENGTH` characters name the pending pairing the code belongs to (no two
live codes share them); the rest is the secret. Nothing changes for the parent or the toy:
the cloud reads the locator off the code as typed, so it counts wrong tries per pending code
and checks a code it can name whatever else its sender's network did (cloud.pairing).
"""

from __future__ import annotations

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I/L to misread
CODE_LENGTH = 8
LOCATOR_LENGTH = 3  # 31**3 = 29,791 pending codes at once; the other 5 are 31**5 secrets


def normalise_code(code: str) -> str:
    """The code as the cloud stores it (`ABCD-EFGH`), or "" if it cannot be one."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    if len(compact) != CODE_LENGTH:
        return ""
    return f"{compact[:4]}-{compact[4:]}"


def code_locator(code: str) -> str:
    """Which pending pairing a typed code names (its first characters), or "" if none."""
    return normalise_code(code)[:LOCATOR_LENGTH]


def code_problem(code: str) -> str | None:
    """Why `code` cannot be a pairing code, in words a parent can act on; None if it can."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    if len(compact) != CODE_LENGTH:
        return (f"{code!r} is not a pairing code: it has {CODE_LENGTH} letters and digits, "
                "like K7QM-X3PA (get one on the parent page: Pair a toy)")
    strange = sorted({ch for ch in compact if ch not in CODE_ALPHABET})
    if strange:
        return (f"{code!r} is not a pairing code: it never contains "
                f"{', '.join(repr(ch) for ch in strange)} (codes leave out 0, O, 1, I and L "
                "so they cannot be misread); copy it again from the parent page")
    return None
