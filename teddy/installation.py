"""Is the installed Teddy whole, and does another distribution share its top-level names?

The distribution installs five top-level packages: teddy, device, cloud, scenarios and
audio_fixtures. `teddy` is also an unrelated project on PyPI, and the other four are generic
words. pip puts two distributions that ship the same top-level package into one folder without
a word (`pip check` compares version requirements only): the one installed second overwrites the
first one's files, and uninstalling either deletes files the other needs.

Both cases are read from the installed metadata alone, importing none of the packages:
- overwritten: a file of ours whose bytes no longer match the hash pip recorded (RECORD);
- shared: another installed distribution whose files include one of our top-level packages.

Only the standard library is imported here: the check runs before anything else can fail.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib import metadata

DISTRIBUTION = "teddy-privacy-testbed"
TOP_LEVEL = ("teddy", "device", "cloud", "scenarios", "audio_fixtures")
ADVICE = "docs/packaging.md, \"Top-level names\""
INIT_FILES = tuple(f"{top}/__init__.py," for top in TOP_LEVEL)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions(path: Iterable[str] | None, name: str | None = None
                   ) -> Iterable[metadata.Distribution]:
    # Imported here: `import teddy` (every toy and cloud module) must not pay for it.
    from importlib import metadata

    where = {} if path is None else {"path": list(path)}
    return metadata.distributions(**where) if name is None else metadata.distributions(
        name=name, **where)


def our_distribution(path: Iterable[str] | None = None) -> metadata.Distribution | None:
    # Found by its folder's name, without parsing every distribution's metadata.
    return next(iter(_distributions(path, DISTRIBUTION)), None)


def overwritten_files(dist: metadata.Distribution, *, every_file: bool = False) -> list[str]:
    """Our installed files whose bytes are not what pip installed (or that are gone).

    By default only each top-level package's __init__.py: another distribution that ships one
    of our packages as a regular package replaces that file, and five small files are cheap
    enough to hash on every start (their RECORD lines are picked out of the text, not parsed
    into 500 objects). An editable install records no package files: nothing to compare,
    nothing reported.
    """
    lines = (dist.read_text("RECORD") or "").splitlines()
    if not every_file:
        lines = [line for line in lines if line.startswith(INIT_FILES)]
    changed = []
    for path, recorded_hash, *_size in csv.reader(lines):
        if path.split("/")[0] not in TOP_LEVEL or "=" not in recorded_hash:
            continue
        mode, _, expected = recorded_hash.partition("=")
        try:
            data = Path(str(dist.locate_file(path))).read_bytes()
        except OSError:
            changed.append(path)
            continue
        digest = hashlib.new(mode, data).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != expected:
            changed.append(path)
    return changed


def _top_levels(dist: metadata.Distribution) -> set[str]:
    listed = dist.read_text("top_level.txt")
    if listed is not None:
        return {line.strip() for line in listed.splitlines() if line.strip()}
    return {entry.parts[0].split(".")[0] for entry in dist.files or [] if entry.parts
            and not entry.parts[0].endswith((".dist-info", ".egg-info", ".data"))}


def other_owners(path: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Our top-level package names that other installed distributions ship too."""
    shared: dict[str, list[str]] = {}
    for dist in _distributions(path):
        name = dist.metadata["Name"] or "?"
        if _canonical(name) == DISTRIBUTION:
            continue
        for top in sorted(_top_levels(dist) & set(TOP_LEVEL)):
            shared.setdefault(top, []).append(name)
    return shared


def installation_problems(path: Iterable[str] | None = None, *,
                          every_file: bool = False) -> list[str]:
    """What is wrong with the installation, one sentence each saying what to do; [] if nothing
    (also when Teddy runs from a checkout without being installed)."""
    path = None if path is None else list(path)
    problems = []
    for top, names in sorted(other_owners(path).items()):
        owners = " and ".join(repr(n) for n in names)
        problems.append(
            f"the distribution {owners} also installs the top-level package {top!r}; pip lets "
            f"the one installed last overwrite the other's files, and uninstalling either "
            f"removes files the other needs: keep them in separate virtual environments "
            f"(see {ADVICE})")
    ours = our_distribution(path)
    changed = overwritten_files(ours, every_file=every_file) if ours is not None else []
    if changed:
        problems.append(overwritten_problem(changed))
    return problems


def overwritten_problem(changed: list[str]) -> str:
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3
                                      else "")
    return (f"files of {DISTRIBUTION} were overwritten or removed by another installation "
            f"({shown}); reinstall it with `pip install --force-reinstall --no-deps "
            f"{DISTRIBUTION}` in a virtual environment of its own (see {ADVICE})")
