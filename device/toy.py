"""The toy: hear, understand, decide what may leave, answer from the cloud or on its own."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from device.privacy.gate import EgressGate
from device.seam import refuse_outside_testbed, seam_point
from teddy.content import compose_reply

if TYPE_CHECKING:
    from device.speech import Heard


class Understanding(Protocol):
    text: str
    intent: str
    slots: dict[str, str | int]


@dataclass(frozen=True)
class ToyTurn:
    heard: str
    intent: str
    slots: dict[str, str | int]
    reply: str
    answered_by: str  # "cloud" or "toy"
    reason: str
    sent_body: bytes | None = None
    status: int | None = None
    personalised: bool = False
    dropped_slots: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)


class Toy:
    def __init__(self, gate: EgressGate, locale: str = "en", understander: object | None = None
                 ) -> None:
        refuse_outside_testbed("the toy")
        self.gate = gate
        self.locale = locale
        self._understander = understander

    @property
    def understander(self):  # type: ignore[no-untyped-def]
        if self._understander is None:
            from device.speech import Understander

            self._understander = Understander(locale=self.locale)
        return self._understander

    @seam_point("recognise")
    def recognise(self, pcm: bytearray) -> Heard:
        """The one place audio becomes an intent: recognise a clip held in memory, then wipe
        it, so audio is never kept (R02). Every path that hears (files, the microphone, the
        scenario agent) comes through here; tests/test_listening_structure.py holds to it."""
        try:
            return self.understander.hear(bytes(pcm))
        finally:
            pcm[:] = bytes(len(pcm))
            del pcm[:]

    def respond_to_heard(self, heard: Heard) -> ToyTurn:
        """The turn after recognition: gate, cloud or local reply, with the recogniser's time."""
        return _with_timing(self.respond(heard), "asr", heard.asr_ms)

    def hear(self, pcm: bytearray) -> ToyTurn:
        """Recognise a clip held in memory (wiped once heard), then answer it."""
        return self.respond_to_heard(self.recognise(pcm))

    def say_text(self, text: str) -> ToyTurn:
        """Understand typed text as if heard (scenarios and tests): the same path after ASR."""
        from device.nlu import load_parser
        from device.speech import Heard

        parsed = load_parser(self.locale).parse(text)
        return self.respond(Heard(text, parsed.intent, dict(parsed.slots)))

    def respond(self, understood: Understanding) -> ToyTurn:
        started = time.perf_counter()
        slots = dict(understood.slots)
        decision = self.gate.decide(understood.intent, slots, self.locale)
        local_reply = compose_reply(understood.intent, slots, locale=self.locale)
        if decision.message is None:
            return ToyTurn(understood.text, understood.intent, slots, local_reply, "toy",
                           decision.reason, dropped_slots=decision.dropped_slots)
        delivery = self.gate.deliver(decision.message)
        elapsed = (time.perf_counter() - started) * 1000
        if delivery.reply is None:
            if delivery.problem:
                reason = delivery.problem
            elif delivery.status is None:
                reason = "cloud unreachable: answered on the toy"
            else:
                reason = f"cloud refused ({delivery.status}): answered on the toy"
            return ToyTurn(understood.text, understood.intent, slots, local_reply, "toy", reason,
                           delivery.body, delivery.status, False, decision.dropped_slots,
                           {"cloud": elapsed})
        return ToyTurn(understood.text, understood.intent, slots, delivery.reply, "cloud",
                       decision.reason, delivery.body, delivery.status, delivery.personalised,
                       decision.dropped_slots, {"cloud": elapsed})


def _with_timing(turn: ToyTurn, name: str, value: float) -> ToyTurn:
    from dataclasses import replace

    return replace(turn, timings_ms={**turn.timings_ms, name: value})
