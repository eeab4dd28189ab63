"""Intents already answered, by message id: a retry gets the first answer, never a second write.

When the database goes away around a COMMIT the cloud cannot know whether the intent was
stored, and says so (503 "outcome_unknown"); a reply can also be lost on the way back after
the commit. Either way the toy sends the same message again, with the same `message_id`. The
intent's effects and its row here are written in one transaction, so after a commit both exist
or neither does: a retry finds the row and is answered with the stored reply (no second history
entry, no second write), or finds nothing and is acted on as the first attempt.

A row holds the device and message ids, the child id (so erasure removes it), an HMAC of the
message keyed with the server secret (a message id reused for a different message is refused;
a plain hash of a short message could be reversed by trying every intent and slot), the
reply sealed with the child's key, the purpose it served ("personalisation" when it used the
profile: withdrawing that consent erases the row at once) and two times. Rows expire
`KEEP_S` after the answer: the toy retries within seconds (device.privacy.gate: at most
`MAX_DELIVERY_ATTEMPTS` tries, none begun 3 s after the first), so ten minutes is a wide margin
while keeping little about when a child played.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

import sqlite_utils

from cloud.device_api.auth import AuthenticatedDevice
from cloud.keys.fields import open_value, seal_value
from teddy.contracts.intent_message import DEDUPE_WINDOW_S, IntentMessage

TABLE = "processed_messages"
KEEP_S = DEDUPE_WINDOW_S
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True)
class StoredReply:
    reply: str
    personalised: bool


class MessageIdReused(Exception):
    """The message id was answered before for a different message: refused, nothing stored."""


def message_digest(key: str, message: IntentMessage) -> str:
    """A keyed digest of the message as validated (field order fixed by the contract)."""
    return hmac.new(key.encode("utf-8"), message.to_body(), hashlib.sha256).hexdigest()


class ProcessedMessages:
    """Looks up and records answered intents; at most once a minute per worker it also drops
    the expired rows (the retention purge removes any left behind)."""

    def __init__(self) -> None:
        self._next_prune_at = 0.0

    def recall(self, db: sqlite_utils.Database, device: AuthenticatedDevice,
               message: IntentMessage, digest: str, now: float) -> StoredReply | None:
        """The stored reply if this message was answered before; raises MessageIdReused if
        its id was answered for a different message. Call inside the write transaction."""
        if now >= self._next_prune_at:
            db.execute(f"DELETE FROM {TABLE} WHERE expires_at <= ?", [now])
            self._next_prune_at = now + PRUNE_EVERY_S
        row = db.execute(
            f"SELECT body_digest, reply_json FROM {TABLE} WHERE device_id = ? AND message_id = ? "
            "AND expires_at > ?", [device.device_id, message.message_id, now]).fetchone()
        if row is None:
            return None
        if not hmac.compare_digest(str(row[0]), digest):
            raise MessageIdReused(message.message_id)
        stored = json.loads(open_value(db, device.child_id, TABLE, "reply_json", row[1]) or "{}")
        return StoredReply(str(stored["reply"]), bool(stored["personalised"]))

    def lookup(self, db: sqlite_utils.Database, device: AuthenticatedDevice, message_id: str,
               now: float) -> tuple[StoredReply, str] | None:
        """The stored reply to this device's message and the purpose it served, if the cloud
        still holds one: what a toy asks after a restart (`POST /api/v1/intent/outcome`)."""
        row = db.execute(
            f"SELECT reply_json, purpose FROM {TABLE} WHERE device_id = ? AND message_id = ? "
            "AND expires_at > ?", [device.device_id, message_id, now]).fetchone()
        if row is None:
            return None
        stored = json.loads(open_value(db, device.child_id, TABLE, "reply_json", row[0]) or "{}")
        return StoredReply(str(stored["reply"]), bool(stored["personalised"])), str(row[1])

    def remember(self, db: sqlite_utils.Database, device: AuthenticatedDevice,
                 message: IntentMessage, digest: str, answer: StoredReply, now: float) -> None:
        """Record the answer in the caller's transaction, the one that wrote the effects.

        An expired row for the same id (not yet pruned) is replaced: past `KEEP_S` the
        message counts as new."""
        sealed = seal_value(db, device.child_id, TABLE, "reply_json",
                            json.dumps({"reply": answer.reply,
                                        "personalised": answer.personalised}), now)
        db.execute(f"DELETE FROM {TABLE} WHERE device_id = ? AND message_id = ?",
                   [device.device_id, message.message_id])
        # A reply shaped by the profile is kept for personalisation: withdrawing it erases the
        # row with the rest (cloud.retention.revocation reads the row's purpose).
        purpose = "personalisation" if answer.personalised else "core"
        db.execute(
            f"INSERT INTO {TABLE} (device_id, message_id, child_id, body_digest, reply_json, "
            "purpose, received_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [device.device_id, message.message_id, device.child_id, digest, sealed, purpose,
             now, now + KEEP_S])


processed = ProcessedMessages()
