"""Where the toy keeps its few local files: credentials, cached consent policy, egress ledger."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def default_state_dir() -> Path:
    env = os.environ.get("TEDDY_TOY_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "teddy" / "toy"


class ToyState:
    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_state_dir()

    def path(self, name: str) -> Path:
        return self.directory / name

    def read_json(self, name: str) -> dict[str, Any] | None:
        path = self.path(name)
        if not path.exists():
            return None
        return json.loads(path.read_text("utf-8"))

    def write_json(self, name: str, value: dict[str, Any]) -> None:
        """Atomic and private: a crash never leaves half a credential, others cannot read it."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.path(name)
        temporary = final.with_suffix(final.suffix + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, sort_keys=True)
        os.replace(temporary, final)

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
