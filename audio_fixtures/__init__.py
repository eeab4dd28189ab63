"""Recorded clips for the demo and the scenarios; the demo clips ship with the package.

Read them through importlib.resources, never relative to a source checkout, so a wheel installed
anywhere finds them. The evaluation clips (clips/, tens of MB) stay in the source tree only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def fixtures_folder() -> Path:
    """This package's folder on disk: the toy reads clips by path in a child process."""
    root = resources.files(__name__)
    if not isinstance(root, Path):
        raise RuntimeError(f"{__name__} is not installed as plain files ({root!r}); "
                           "reinstall it from a wheel or a source checkout")
    return root


def demo_clips() -> Path:
    """The folder holding the demo clips."""
    return fixtures_folder() / "demo"
