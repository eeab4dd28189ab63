"""Where the toy keeps its few local files: credentials, cached consent policy, egress ledger.

The folder is private to its owner (0700, tightened if it already exists) and every file in it
is 0600: the ledger holds the child's name and age, the credentials the device key. Writes are
durable (fsync) and state files are replaced atomically, so a crash leaves the old or the new
file, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from device.config import toy_config

FOLDER_MODE = 0o700
FILE_MODE = 0o600


class StateError(Exception):
    """The toy's state folder cannot be used as needed; the message says what to do."""


class StateFileError(StateError):
    """A state file exists but cannot be read back (cut short, edited by hand, wrong shape)."""


def default_state_dir() -> Path:
    configured = toy_config().toy_dir
    if configured is not None:
        return configured
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "teddy" / "toy"


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in `directory` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ToyState:
    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_state_dir()

    def path(self, name: str) -> Path:
        return self.directory / name

    def ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
        if self.directory.stat().st_mode & 0o777 != FOLDER_MODE:
            os.chmod(self.directory, FOLDER_MODE)

    def read_json(self, name: str) -> dict[str, Any] | None:
        """The file's object, None if there is no such file; StateFileError if it is damaged."""
        path = self.path(name)
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise StateFileError(f"{path} cannot be read ({error})") from error
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise StateFileError(f"{path} is damaged (cut short or not JSON: {error.msg} at "
                                 f"character {error.pos})") from error
        if not isinstance(value, dict):
            raise StateFileError(f"{path} is damaged (holds a JSON {type(value).__name__}, "
                                 "not an object)")
        return value

    def write_json(self, name: str, value: dict[str, Any]) -> None:
        """Atomic, durable and private: a crash never leaves half a credential."""
        self.ensure_directory()
        final = self.path(name)
        temporary = final.with_name(final.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(value, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        fsync_directory(self.directory)

    def check_writable(self, name: str, sample: dict[str, Any]) -> None:
        """Prove `name` could be written now (OSError if not) without touching it."""
        if self.path(name).is_dir():
            raise IsADirectoryError(f"{self.path(name)} is a folder")
        probe = name + ".probe"
        self.write_json(probe, sample)
        self.remove(probe)

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
