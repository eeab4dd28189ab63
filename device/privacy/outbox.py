"""The toy's outbox: intents sent but not yet answered for certain, kept across a restart.

A toy killed (a crash, a power cut) after the cloud stored an intent but before the answer
reached it would otherwise never learn what happened. So before an intent's first byte
leaves, the message is written here (the exact body the cloud validates: the intent message,
never audio or a transcript) and fsynced; it is taken out once a definite answer arrives. On
the next start, and before the next request, the gate resends what is left, byte for byte with
the same message_id: the cloud answers a message it already stored from its record
(`DEDUPE_WINDOW_S`), so the history holds it once. An entry older than `RESEND_WITHIN_S` is
not resent (past the cloud's window a resend would count as new) but dropped, and the egress
ledger says its outcome is unknown.

Each request signs its own timestamp and nonce (device.client.http), so a resent body is a
fresh request to the replay check and a repeat only to the cloud's record of answered
messages. The file is child data: `teddy device unpair` removes it, and a consent withdrawal
or the cloud forgetting the toy empties it (device.privacy.gate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from device.state import StateError, StateFileError, ToyState
from teddy.contracts.intent_message import DEDUPE_WINDOW_S

OUTBOX_FILE = "outbox.json"
# A damaged outbox is set aside under this name (never overwritten) and reported.
DAMAGED_SUFFIX = ".damaged"
# A resend must reach the cloud while it still holds the first answer: a minute's margin for
# the exchange itself and for clocks that tick at slightly different rates.
RESEND_WITHIN_S = DEDUPE_WINDOW_S - 60.0


class OutboxUnavailable(StateError):
    """The outbox cannot be written, so the message is not sent."""


@dataclass(frozen=True)
class PendingMessage:
    message_id: str
    body: str  # the intent message's JSON, as sent
    purpose: str
    queued_at: float


class Outbox:
    def __init__(self, state: ToyState) -> None:
        self.state = state

    def pending(self) -> list[PendingMessage]:
        """What is waiting, oldest first; StateFileError when the file is damaged."""
        raw = self.state.read_json(OUTBOX_FILE)
        if raw is None:
            return []
        entries = raw.get("pending")
        if not isinstance(entries, list):
            raise StateFileError(f"{self.state.path(OUTBOX_FILE)} is damaged (no list of "
                                 "pending messages)")
        try:
            found = [PendingMessage(**entry) for entry in entries]
        except TypeError as error:
            raise StateFileError(f"{self.state.path(OUTBOX_FILE)} is damaged (an entry has "
                                 "unexpected fields)") from error
        if not all(isinstance(p.message_id, str) and isinstance(p.body, str)
                   and isinstance(p.purpose, str) and isinstance(p.queued_at, int | float)
                   for p in found):
            raise StateFileError(f"{self.state.path(OUTBOX_FILE)} is damaged (wrong field "
                                 "types)")
        return sorted(found, key=lambda p: p.queued_at)

    def add(self, message: PendingMessage) -> None:
        """Durably record a message before it is sent; OutboxUnavailable if that fails."""
        kept = [p for p in self._readable() if p.message_id != message.message_id]
        self._write([*kept, message], "nothing was sent")

    def remove(self, message_id: str) -> None:
        kept = self._readable()
        remaining = [p for p in kept if p.message_id != message_id]
        if len(remaining) != len(kept):
            self._write(remaining, "the answer came but the message is still listed as "
                        "unanswered; it will be sent once more")

    def clear(self) -> None:
        self.state.remove(OUTBOX_FILE)

    def set_aside_damaged(self) -> str:
        """Move a damaged outbox out of the way, keeping its bytes; the new name."""
        damaged = self.state.path(OUTBOX_FILE + DAMAGED_SUFFIX)
        self.state.path(OUTBOX_FILE).replace(damaged)
        return damaged.name

    def _readable(self) -> list[PendingMessage]:
        try:
            return self.pending()
        except StateFileError as error:
            raise OutboxUnavailable(f"{error}: nothing was sent") from error

    def _write(self, entries: list[PendingMessage], consequence: str) -> None:
        try:
            if entries:
                self.state.write_json(OUTBOX_FILE, {"pending": [asdict(p) for p in entries]})
            else:
                self.state.remove(OUTBOX_FILE)
        except OSError as error:
            raise OutboxUnavailable(
                f"cannot write the toy's outbox in {self.state.directory} "
                f"({error.strerror or error}): {consequence}") from error
