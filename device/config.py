"""The toy's settings from the environment, read in one place: the `TEDDY_*` variables.

Each is optional; a command-line option, where there is one, wins over its variable. The
variables are read when asked for, not at import, so a test or a shell that sets one sees it.
A value that cannot be parsed is an error naming the variable, never a silent default.
"""

from __future__ import annotations

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

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ToyConfig:
        environ = os.environ if environ is None else environ
        raw = {field: environ.get(variable) or None for field, variable in VARIABLES.items()}
        reject_below = None
        if raw["reject_below"] is not None:
            try:
                reject_below = float(raw["reject_below"])
            except ValueError:
                raise ToyConfigError(
                    f"{VARIABLES['reject_below']}={raw['reject_below']!r} is not a number "
                    "(a log-likelihood ratio such as -2)") from None
        return cls(
            toy_dir=_path(raw["toy_dir"]), vosk_model=_path(raw["vosk_model"]),
            models_dir=_path(raw["models_dir"]), models_url=raw["models_url"],
            adaptation=raw["adaptation"], reject_below=reject_below)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def toy_config() -> ToyConfig:
    """The settings as the environment holds them now."""
    return ToyConfig.from_environment()
