"""Building the project's own wheel or sdist from the source tree, one build at a time.

pip and `python -m build` build in the tree: setuptools writes build/ and the .egg-info folder
next to the sources. Two builds at once (two pytest workers, or two runs on one checkout) would
write the same files, so every build here holds an exclusive lock on build/.tests-build.lock.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "build" / ".tests-build.lock"


@contextmanager
def source_tree_build_lock() -> Iterator[None]:
    """Hold the source tree's build lock: waits for another build of this tree to finish."""
    LOCK.parent.mkdir(exist_ok=True)
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_from_tree(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a build command that reads the source tree, under the tree's build lock."""
    with source_tree_build_lock():
        return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
