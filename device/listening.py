"""The toy's one listening pipeline: utterances in, stage messages out (wyoming-like).

    Utterance(file, pcm)               a WAV file's clip, or what the endpointer cut from the
                                       microphone (push-to-talk: what was said between Enters)
      -> Toy.recognise -> Heard        the only place audio becomes an intent; the clip's
                                       buffer is wiped there (R02)
      -> WakeGate                      in wake mode, held back until the wake phrase
      -> Toy.respond_to_heard -> Turn  privacy gate, then the cloud's or the toy's reply

`teddy device listen` runs every source through `listen()`: files with --input, and the
microphone in each mode. `Turn.record()` is the one message shape the command prints as JSON
and writes as JSON Lines, whichever source the audio came from.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device.audio.endpointing import Endpointer
from device.audio.frontend import MICROPHONE_SETTINGS, FrontEnd

if TYPE_CHECKING:
    from device.locales import LocaleProfile
    from device.toy import Toy, ToyTurn

MODES = ("push-to-talk", "wake", "continuous")


@dataclass
class Utterance:
    """One thing the child said, held in memory until the toy has heard it."""

    file: str | None  # the WAV file it came from; None for the microphone
    pcm: bytearray


@dataclass(frozen=True)
class Woke:
    """The wake phrase was heard: the next utterance is a request."""

    heard: str


@dataclass(frozen=True)
class Ignored:
    """Heard while asleep and not the wake phrase: understood, answered by nobody."""

    heard: str


@dataclass(frozen=True)
class Turn:
    """A request heard and answered."""

    file: str | None
    turn: ToyTurn

    def record(self) -> dict[str, object]:
        turn = self.turn
        return {"file": self.file, "heard": turn.heard, "intent": turn.intent,
                "slots": turn.slots, "reply": turn.reply, "answered_by": turn.answered_by,
                "reason": turn.reason,
                "sent_bytes": len(turn.sent_body) if turn.sent_body else 0,
                "status": turn.status, "personalised": turn.personalised,
                "dropped_slots": list(turn.dropped_slots),
                "timings_ms": {k: round(v, 1) for k, v in turn.timings_ms.items()}}


Message = Woke | Ignored | Turn


class WakeGate:
    """Passes requests on; in wake mode only the one after the wake phrase."""

    def __init__(self, mode: str, profile: LocaleProfile) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.profile = profile
        self.armed = mode != "wake"

    def admit(self, heard: str) -> Message | None:
        """None lets the utterance through as a request; a message says why it was not."""
        if self.armed:
            if self.mode == "wake":
                self.armed = False  # one request per wake phrase
            return None
        if self.profile.is_wake(heard):
            self.armed = True
            return Woke(heard)
        return Ignored(heard)


def listen(toy: Toy, utterances: Iterable[Utterance], gate: WakeGate | None = None
           ) -> Iterator[Message]:
    """Each utterance through the toy, in order: recognised (and wiped), gated, answered."""
    for utterance in utterances:
        heard = toy.recognise(utterance.pcm)
        held_back = gate.admit(heard.text) if gate is not None else None
        if held_back is not None:
            yield held_back
            continue
        yield Turn(utterance.file, toy.respond_to_heard(heard))


def microphone_utterances(
    device: str | int | None,
    stop: threading.Event,
    on_speech: Callable[[], None] = lambda: None,
) -> Iterator[Utterance]:
    """What the endpointer cuts from the input device, after the microphone's gain (a child
    across the room is quiet), until `stop` is set; `on_speech` is called as speech starts."""
    from device.audio.microphone import capture_chunks

    endpointer = Endpointer()
    gain = FrontEnd(MICROPHONE_SETTINGS)
    for raw in capture_chunks(device, stop=stop):
        was_speaking = endpointer.in_speech
        finished = endpointer.feed(gain.process(raw))
        if endpointer.in_speech and not was_speaking:
            on_speech()
        for pcm in finished:
            yield Utterance(None, pcm)
    last = endpointer.flush()
    if last is not None:
        yield Utterance(None, last)
