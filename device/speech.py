"""Speech in, intent out: the recogniser and the parser composed for the toy."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from device.asr import SpeechEngine, Transcript, load_engine
from device.audio.frontend import RECOGNISER_SETTINGS, FrontEnd, FrontEndSettings
from device.nlu import load_parser
from device.nlu.templates import SlotValue

# hear() hands a whole clip over in the chunks a live microphone would give.
CHUNK_BYTES = 2 * 16_000 // 10
VTLN_MODES = ("off", "session", "utterance")


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
        self, engine_name: str = "auto", locale: str = "en", model_dir: str | None = None,
        frontend: FrontEndSettings = RECOGNISER_SETTINGS, vtln: str | None = None,
        session_cmn: bool | None = None, adaptation: str | None = None,
    ) -> None:
        began = time.perf_counter()
        self.parser = load_parser(locale)
        self.engine: SpeechEngine = load_engine(engine_name, locale, model_dir, adaptation)
        if vtln is not None and vtln not in VTLN_MODES:
            raise ValueError(f"vtln must be one of {', '.join(VTLN_MODES)}, not {vtln!r}")
        if vtln is not None and hasattr(self.engine, "vtln"):
            self.engine.vtln = vtln  # type: ignore[attr-defined]
        if session_cmn is not None and hasattr(self.engine, "session_cmn"):
            self.engine.session_cmn = session_cmn  # type: ignore[attr-defined]
        self.frontend = FrontEnd(frontend)
        self.load_seconds = time.perf_counter() - began
        self.locale = locale

    # --- one stage per utterance: audio chunks in, a transcript out -------------

    def new_session(self) -> None:
        """A new speaker (child): per-speaker adaptation starts afresh."""
        new_session = getattr(self.engine, "new_session", None)
        if new_session is not None:
            new_session()

    def start(self) -> None:
        self.frontend.reset()
        self.engine.start()

    def accept(self, chunk: bytes) -> None:
        enhanced = self.frontend.process(chunk)
        if enhanced:
            self.engine.accept(enhanced)

    def finish(self) -> Transcript:
        rest = self.frontend.flush()
        if rest:
            self.engine.accept(rest)
        return self.engine.finish()

    def _heard(self, transcript: Transcript, asr_ms: float) -> Heard:
        parsed = self.parser.parse(transcript.text)
        return Heard(
            transcript.text, parsed.intent, parsed.slots, transcript.engine, asr_ms,
            transcript.confidence,
        )

    def hear(self, pcm: bytes) -> Heard:
        """Recognise a whole utterance of 16 kHz mono s16le PCM."""
        began = time.perf_counter()
        self.start()
        for offset in range(0, len(pcm), CHUNK_BYTES):
            self.accept(pcm[offset:offset + CHUNK_BYTES])
        transcript = self.finish()
        return self._heard(transcript, (time.perf_counter() - began) * 1000)

    def hear_stream(self, utterances: Iterable[Iterable[bytes]]) -> Iterator[Heard]:
        """Recognise utterances given as streams of PCM chunks.

        `asr_ms` is the time from the last chunk (end of speech) to the
        transcript: the delay the child actually waits for.
        """
        for chunks in utterances:
            self.start()
            for chunk in chunks:
                self.accept(chunk)
            began = time.perf_counter()
            transcript = self.finish()
            yield self._heard(transcript, (time.perf_counter() - began) * 1000)
