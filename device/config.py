"""The toy's settings from the environment, read in one place: the `TEDDY_*` variables.

Each is optional; a command-line option, where there is one, wins over its variable. The
variables are read when asked for, not at import, so a test or a shell that sets one sees it.
A value that cannot be parsed is an error naming the variable, never a silent default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from teddy.errors import InputError

VARIABLES = {
    "toy_dir": "TEDDY_TOY_DIR",
    "vosk_model": "TEDDY_VOSK_MODEL",
    "models_dir": "TEDDY_MODELS_DIR",
    "models_url": "TEDDY_MODELS_URL",
    "adaptation": "TEDDY_ADAPTATION",
    "reject_below": "TEDDY_REJECT_BELOW",
    "moonshine_reject_below": "TEDDY_MOONSHINE_REJECT_BELOW",
    "ort_threads": "TEDDY_ORT_THREADS",
}


class ToyConfigError(InputError):
    """A TEDDY_* variable holds a value the toy cannot use; the message names it."""


@dataclass(frozen=True)
class ToyConfig:
    # The toy's state folder (pairing, keys, ledger).
    toy_dir: Path | None = None
    # A Vosk model folder to use instead of a downloaded or packaged one.
    vosk_model: Path | None = None
    # Where `teddy models download` puts models and the recogniser looks for them.
    models_dir: Path | None = None
    # Where models are downloaded from (a mirror, or a local server in tests).
    models_url: str | None = None
    # The PocketSphinx acoustic adaptation: a folder, "off", or unset for the shipped one.
    adaptation: str | None = None
    # PocketSphinx's rejection threshold (log-likelihood ratio); unset for the engine default.
    reject_below: float | None = None
    # Moonshine's rejection threshold (log-probability margin); unset for the engine default.
    moonshine_reject_below: float | None = None
    # ONNX Runtime's threads for Moonshine; unset lets ONNX Runtime choose.
    ort_threads: int | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ToyConfig:
        environ = os.environ if environ is None else environ
        raw = {field: environ.get(variable) or None for field, variable in VARIABLES.items()}
        return cls(
            toy_dir=_path(raw["toy_dir"]), vosk_model=_path(raw["vosk_model"]),
            models_dir=_path(raw["models_dir"]), models_url=raw["models_url"],
            adaptation=raw["adaptation"],
            reject_below=_number(raw, "reject_below", "a log-likelihood ratio such as -2"),
            moonshine_reject_below=_number(raw, "moonshine_reject_below",
                                           "a log-probability margin such as -5"),
            ort_threads=_threads(raw))


def _number(raw: Mapping[str, str | None], field: str, hint: str) -> float | None:
    value = raw[field]
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ToyConfigError(f"{VARIABLES[field]}={value!r} is not a number ({hint})")
    return number


def _threads(raw: Mapping[str, str | None]) -> int | None:
    value = raw["ort_threads"]
    if value is None:
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ToyConfigError(f"{VARIABLES['ort_threads']}={value!r} is not a whole number "
                             "of threads (1 or more)")
    return int(value)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def toy_config() -> ToyConfig:
    """The settings as the environment holds them now."""
    return ToyConfig.from_environment()
