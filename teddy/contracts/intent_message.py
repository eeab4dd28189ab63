"""The intent message: the only thing about a child's speech that may cross the network.

Defined once and imported by the toy (to build it) and the cloud (to validate it). Typed,
bounded fields only: no transcript, no free text, no binary. Anything else cannot be built.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from teddy.contracts.data_map import data_map

MAX_BODY_BYTES = 1024
MAX_SLOTS = 4
# How long the cloud answers a repeat of a message (same message_id, same body) from its record
# instead of acting on it again; the toy resends an unanswered message only well inside it.
DEDUPE_WINDOW_S = 600.0

# Intents a toy may send; share_location, unknown and stop are answered on the toy.
SendableIntent = Literal[
    "greet",
    "goodbye",
    "tell_story",
    "tell_joke",
    "sing_song",
    "play_game",
    "animal_sound",
    "share_favorite",
    "share_name",
    "share_age",
]

SlotText = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z' -]{0,31}$")]
SlotValue = SlotText | Annotated[int, Field(ge=0, le=18)]
DeviceId = Annotated[str, StringConstraints(pattern=r"^toy-[a-z0-9]{8,32}$")]
MessageId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
# Where a toy that restarted asks what became of a message it sent without hearing back.
OUTCOME_PATH = "/api/v1/intent/outcome"


class IntentMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    message_id: MessageId
    device_id: DeviceId
    sent_at: Annotated[int, Field(ge=1_500_000_000, le=4_000_000_000)]
    locale: Literal["en", "ko"]
    intent: SendableIntent
    slots: dict[str, SlotValue] = Field(default_factory=dict, max_length=MAX_SLOTS)
    policy_version: Annotated[int, Field(ge=0, le=1_000_000)]

    @field_validator("slots")
    @classmethod
    def _slots_are_allow_listed(cls, slots: dict[str, SlotValue]) -> dict[str, SlotValue]:
        rules = data_map().slots
        for name in slots:
            rule = rules.get(name)
            if rule is None:
                raise ValueError(f"slot {name!r} is not in the data map")
            if rule.leaves_toy == "never":
                raise ValueError(f"slot {name!r} ({rule.category}) never leaves the toy")
        return slots

    @classmethod
    def new(
        cls,
        *,
        device_id: str,
        locale: str,
        intent: str,
        slots: dict[str, str | int],
        policy_version: int,
        now: datetime | None = None,
    ) -> IntentMessage:
        sent = now or datetime.now(UTC)
        return cls.model_validate(
            {
                "message_id": uuid.uuid4().hex,
                "device_id": device_id,
                "sent_at": int(sent.timestamp()),
                "locale": locale,
                "intent": intent,
                "slots": slots,
                "policy_version": policy_version,
            }
        )

    def to_body(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_body(cls, body: bytes) -> IntentMessage:
        return cls.model_validate_json(body)

    def purposes_needed(self) -> set[str]:
        return data_map().purposes_needed(self.slots)


class OutcomeQuestion(BaseModel):
    """A restarted toy's question about a message it sent without hearing back: the message's
    id alone, so nothing the child said crosses the network again."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    message_id: MessageId

    def to_body(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_body(cls, body: bytes) -> OutcomeQuestion:
        return cls.model_validate_json(body)
