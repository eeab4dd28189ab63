"""Speech in, intent out: the recogniser and the parser composed for the toy."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from device.asr import SpeechEngine, Transcript, load_engine
from device.nlu import load_parser
from device.nlu.templates import SlotValue


@dataclass(frozen=True)
class Heard:
    text: str
    intent: str
    slots: dict[str, SlotValue] = field(default_factory=dict)
    engine: str = ""
    asr_ms: float = 0.0
    confidence: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class Understander:
    """Loads one recogniser and one parser, then turns utterances into intents."""

    def __init__(
        self, engine_name: str = "auto", locale: str = "en", model_dir: str | None = None
    ) -> None:
        began = time.perf_counter()
        self.parser = load_parser(locale)
        self.engine: SpeechEngine = load_engine(engine_name, locale, model_dir)
        self.load_seconds = time.perf_counter() - began
        self.locale = locale

    def _heard(self, transcript: Transcript, asr_ms: float) -> Heard:
        parsed = self.parser.parse(transcript.text)
        return Heard(
            transcript.text, parsed.intent, parsed.slots, transcript.engine, asr_ms,
            transcript.confidence,
        )

    def hear(self, pcm: bytes) -> Heard:
        """Recognise a whole utterance of 16 kHz mono s16le PCM."""
        began = time.perf_counter()
        transcript = self.engine.transcribe(pcm)
        return self._heard(transcript, (time.perf_counter() - began) * 1000)

    def hear_stream(self, utterances: Iterable[Iterable[bytes]]) -> Iterator[Heard]:
        """Recognise utterances given as streams of PCM chunks.

        `asr_ms` is the time from the last chunk (end of speech) to the
        transcript: the delay the child actually waits for.
        """
        for chunks in utterances:
            self.engine.start()
            for chunk in chunks:
                self.engine.accept(chunk)
            began = time.perf_counter()
            transcript = self.engine.finish()
            yield self._heard(transcript, (time.perf_counter() - began) * 1000)
