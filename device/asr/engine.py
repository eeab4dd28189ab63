"""The speech engine contract shared by every recogniser on the toy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Transcript:
    """What a recogniser heard; `text` is "" when the speech was rejected."""

    text: str
    engine: str
    confidence: float | None = None


class EngineError(RuntimeError):
    """A recogniser or its model could not be loaded or used."""


def check_chunk(chunk: bytes, started: bool = True) -> None:
    """What every engine's accept() checks before it takes a PCM chunk.

    `started` is False when start() has not opened an utterance; engines that
    need no start() (Vosk resets itself) leave it at True.
    """
    if not started:
        raise EngineError("accept() called before start()")
    if len(chunk) % 2:
        raise EngineError("PCM chunks must hold whole 16-bit samples")


@runtime_checkable
class SpeechEngine(Protocol):
    """A recogniser of 16 kHz mono s16le PCM, whole-clip or streaming."""

    name: str

    def transcribe(self, pcm: bytes) -> Transcript: ...

    def start(self) -> None: ...

    def accept(self, chunk: bytes) -> None: ...

    def finish(self) -> Transcript: ...
