"""The toy's outbox: intents sent but not yet answered for certain, kept across a restart.

A toy killed (a crash, a power cut) after the cloud stored an intent but before the answer
reached it would otherwise never learn what happened. So before an intent's first byte
leaves, its message_id is written here with the purposes it needed and the time (never the
slots, audio or a transcript), fsynced; the entry is taken out once a definite answer
arrives. On the next start, and before the next request, the gate asks the cloud what became
of each message left here, by message_id alone (`POST /api/v1/intent/outcome`): the cloud
answers from its record of answered messages (`DEDUPE_WINDOW_S`) with the stored reply, or
says it has none. Nothing the child said crosses the network again and nothing is acted on
late (a message the cloud never got stays unsent: the toy keeps nothing to send later). An
entry older than `ASK_WITHIN_S` is not asked about (past the cloud's window its record is
gone) but dropped, and the egress ledger says its outcome is unknown.

Each request signs its own timestamp and nonce (device.client.http), so the question is a
fresh request to the replay check. The file is child data (it says when the child played and
for which purposes): `teddy device unpair` removes it, and a consent withdrawal or the cloud
forgetting the toy empties it (device.privacy.gate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from device.state import StateError, StateFileError, ToyState
from teddy.contracts.intent_message import DEDUPE_WINDOW_S

OUTBOX_FILE = "outbox.json"
# A damaged outbox is set aside under this name (never overwritten) and reported.
DAMAGED_SUFFIX = ".damaged"
# The question must reach the cloud while it still holds the first answer: a minute's margin for
# the exchange itself and for clocks that tick at slightly different rates.
ASK_WITHIN_S = DEDUPE_WINDOW_S - 60.0
# Asked about only once no try of it can still be running in the cloud: a request is over
# within gunicorn's worker timeout (30 s, cloud/server.py; the worker is killed and its
# transaction rolled back past it). Sooner, "no record" could precede a late commit.
ASK_AFTER_S = 35.0


class OutboxUnavailable(StateError):
    """The outbox cannot be written, so the message is not sent."""


@dataclass(frozen=True)
class PendingMessage:
    message_id: str
    purpose: str  # the purposes the message needed, "+"-joined as the ledger writes them
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
        if not all(isinstance(p.message_id, str) and isinstance(p.purpose, str)
                   and isinstance(p.queued_at, int | float) for p in found):
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
