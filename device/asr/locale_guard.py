"""Out-of-locale rejection: English speech must not become a Korean intent.

The Korean recogniser is constrained to Korean sentences, so English speech
can still come out as the nearest Korean one. When the Korean engine accepts
an utterance, the English model checks it: if its free transcript is fluent
English (high mean log-probability per word), the utterance is rejected.
Asking whether the English toy would have accepted it was tried and dropped:
it flagged 28 of 99 Korean clips (loanwords such as 바이바이, short commands).
"""

from __future__ import annotations

from device.asr.engine import SpeechEngine, Transcript
from device.asr.moonshine_engine import MoonshineEngine
from device.nlu.matcher import normalise

# Mean log-probability per word of Moonshine's free transcript at or above
# which the speech is taken for English. Rule (tune split only: the tune
# voices' Korean clips and the English tune clips): in steps of 0.1, the
# loosest value that flags no Korean tune command the Korean engine got right.
# -0.8: the Korean engine's accepted English tune clips fall from 56 to 24 of
# 340 (-0.9 would cost a Korean command; the earlier -0.5 left 38). See
# docs/speech.md for the held-out figures.
FLUENT_ENGLISH = -0.8


class EnglishSpeechGuard:
    """A Korean engine whose accepted utterances are checked for English speech."""

    def __init__(self, inner: SpeechEngine, english: MoonshineEngine,
                 fluent_english: float = FLUENT_ENGLISH) -> None:
        self.inner = inner
        self.fluent_english = fluent_english
        self.english = english
        self.name = inner.name
        self._pcm = bytearray()
        self.rejected_as_english = 0

    def start(self) -> None:
        self._pcm = bytearray()
        self.inner.start()

    def accept(self, chunk: bytes) -> None:
        self._pcm.extend(chunk)
        self.inner.accept(chunk)

    def finish(self) -> Transcript:
        return self._checked(self.inner.finish(), bytes(self._pcm))

    def transcribe(self, pcm: bytes) -> Transcript:
        return self._checked(self.inner.transcribe(pcm), pcm)

    def is_english(self, pcm: bytes) -> bool:
        self.english.transcribe(pcm)
        decoded = self.english.last
        if decoded is None or not decoded.free_text:
            return False
        words = max(1, len(normalise(decoded.free_text).split()))
        return decoded.free_logprob / words >= self.fluent_english

    def _checked(self, transcript: Transcript, pcm: bytes) -> Transcript:
        if transcript.text and self.is_english(pcm):
            self.rejected_as_english += 1
            return Transcript("", transcript.engine, transcript.confidence)
        return transcript

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
