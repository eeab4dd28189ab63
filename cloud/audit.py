"""An append-only, hash-chained audit log that holds no child content (R27).

Each entry's hash covers the previous entry's hash, so editing, dropping or reordering any
entry breaks the chain from that point on; `verify` finds the first broken link. Triggers
refuse UPDATE and DELETE, and a unique index on the link stops two writers forking the chain.

What an entry may say is held tight: details take only known keys, and their values must be
numbers or short identifiers (purpose names, table names, receipt ids), never sentences, so
nothing a child said can be written here even by mistake.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from cloud.storage.db import in_transaction

GENESIS = "0" * 64
# Keys that may appear in details: references and counts, never values about a child.
ALLOWED_DETAIL_KEYS = frozenset(
    {"purpose", "purposes", "method", "notice_version", "tables", "rows", "receipt", "reason",
     "device", "count", "scope", "category", "format", "through_seq", "anchor"}
)
# Identifiers only: no spaces (so no sentences) and no "@" (so no e-mail addresses).
IDENTIFIER = re.compile(r"[A-Za-z0-9_.:+/-]{1,80}")
MAX_LIST_ITEMS = 64


class AuditContentError(ValueError):
    """An entry would carry something other than references and counts."""


def _entry_hash(prev_hash: str, at: float, actor: str, action: str, subject: str,
                details_json: str) -> str:
    payload = json.dumps([prev_hash, repr(at), actor, action, subject, details_json])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def subject_ref(kind: str, ident: object) -> str:
    """An opaque reference such as `child:12`: enough to audit, nothing about the child."""
    ref = f"{kind}:{ident}"
    if not IDENTIFIER.fullmatch(ref):
        raise AuditContentError(f"not an opaque reference: {ref!r}")
    return ref


def _check_value(key: str, value: Any, depth: int = 0) -> None:
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str):
        if not IDENTIFIER.fullmatch(value):
            raise AuditContentError(f"audit detail {key!r} must be an identifier or a number")
        return
    if depth == 0 and isinstance(value, list | tuple) and len(value) <= MAX_LIST_ITEMS:
        for item in value:
            _check_value(key, item, depth + 1)
        return
    if depth == 0 and isinstance(value, dict) and len(value) <= MAX_LIST_ITEMS:
        for name, item in value.items():
            _check_value(key, name, depth + 1)
            _check_value(key, item, depth + 1)
        return
    raise AuditContentError(f"audit detail {key!r} has an unsupported shape")


def check_details(details: dict[str, Any]) -> None:
    stray = set(details) - ALLOWED_DETAIL_KEYS
    if stray:
        raise AuditContentError(f"audit details may not hold {sorted(stray)}")
    for key, value in details.items():
        _check_value(key, value)


def append(db: sqlite_utils.Database, *, at: float, actor: str, action: str, subject: str,
           details: dict[str, Any] | None = None) -> str:
    """Add one entry; joins the caller's transaction, or runs in its own if there is none."""
    details = details or {}
    check_details(details)
    for label, value in (("actor", actor), ("action", action), ("subject", subject)):
        if not IDENTIFIER.fullmatch(value):
            raise AuditContentError(f"audit {label} must be an identifier: {value!r}")
    details_json = json.dumps(details, sort_keys=True)
    own_transaction = not in_transaction(db)
    if own_transaction:
        # IMMEDIATE: read the chain's head and append to it with no writer in between.
        db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        last_seq, prev_hash = (int(row[0]), row[1]) if row else (0, GENESIS)
        entry_hash = _entry_hash(prev_hash, at, actor, action, subject, details_json)
        # The number is the head's plus one, never the database's own counter: a PostgreSQL
        # sequence is not rolled back with a transaction, so an append that was rolled back
        # would leave a gap that `verify` reads as entries cut out.
        db.execute(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details_json, prev_hash, "
            "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [last_seq + 1, at, actor, action, subject, details_json, prev_hash, entry_hash],
        )
    except BaseException:
        if own_transaction:
            db.execute("ROLLBACK")
        raise
    if own_transaction:
        db.execute("COMMIT")
    return entry_hash


@dataclass(frozen=True)
class Verification:
    entries: int
    ok: bool
    first_bad_seq: int | None
    problem: str | None
    head: str = GENESIS


TRIM_ACTION = "audit.trim"


def trim(db: sqlite_utils.Database, *, now: float, keep_days: float) -> int:
    """Drop entries older than the log's own retention, inside the caller's transaction.

    A trim entry is appended first, naming the last dropped entry and its hash; the delete
    trigger lets only entries up to that point go, and `verify` starts the chain from that
    anchor. Returns how many entries were dropped.
    """
    if not in_transaction(db):
        raise RuntimeError("audit.trim must run inside the purge's transaction")
    cutoff = now - keep_days * 86400
    first_kept = db.execute("SELECT MIN(seq) FROM audit_log WHERE at > ?", [cutoff]).fetchone()[0]
    last_old = db.execute(
        "SELECT seq, hash FROM audit_log WHERE seq < COALESCE(?, 4611686018427387904) "
        "ORDER BY seq DESC LIMIT 1", [first_kept]).fetchone()
    if last_old is None:
        return 0
    through_seq, anchor = int(last_old[0]), str(last_old[1])
    append(db, at=now, actor="system", action=TRIM_ACTION, subject="audit_log",
           details={"through_seq": through_seq, "anchor": anchor})
    return db.execute("DELETE FROM audit_log WHERE seq <= ?", [through_seq]).rowcount


def _trim_anchors(db: sqlite_utils.Database) -> set[tuple[int, str]]:
    anchors = set()
    for (details_json,) in db.execute(
            "SELECT details_json FROM audit_log WHERE action = ?", [TRIM_ACTION]):
        details = json.loads(details_json)
        anchors.add((int(details["through_seq"]), str(details["anchor"])))
    return anchors


def verify(db: sqlite_utils.Database) -> Verification:
    """Walk the chain from the start, or from a recorded trim anchor. `head` is the last good
    hash: keep a copy elsewhere to detect the one change a chain alone cannot, cutting entries
    off its end."""
    prev_hash = GENESIS
    count = 0
    last_seq = 0
    anchors = _trim_anchors(db)
    for seq, at, actor, action, subject, details_json, stored_prev, stored_hash in db.execute(
        "SELECT seq, at, actor, action, subject, details_json, prev_hash, hash "
        "FROM audit_log ORDER BY seq"
    ):
        if count == 0 and (seq - 1, stored_prev) in anchors:
            # Older entries were dropped by a recorded, chained trim: start from its anchor.
            prev_hash, last_seq = stored_prev, seq - 1
        count += 1
        if seq != last_seq + 1:
            return Verification(count, False, seq, "entries missing before this one", prev_hash)
        if stored_prev != prev_hash:
            return Verification(count, False, seq, "previous-hash link broken", prev_hash)
        if _entry_hash(prev_hash, at, actor, action, subject, details_json) != stored_hash:
            return Verification(count, False, seq, "entry content does not match its hash",
                                prev_hash)
        prev_hash = stored_hash
        last_seq = seq
    return Verification(count, True, None, None, prev_hash)
