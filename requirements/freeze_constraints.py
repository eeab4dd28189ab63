"""Write constraints.txt: the exact version of every distribution each extra installs, read
from the virtual environment that passes the tests.

    .venv/bin/python requirements/freeze_constraints.py > constraints.txt

It follows each extra's requirements through the installed metadata (their markers evaluated
for this machine), so the file pins what `pip install '.[EXTRA]'` brings and nothing else that
happens to be in the environment. Each pin says which extras need it.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OURS = canonicalize_name(PROJECT["name"])
# The extras in the order a reader meets them; `all` and `test` include others.
EXTRAS = ["core", *PROJECT["optional-dependencies"]]
# The installer itself (sqlite-utils names pip): bootstrap.sh upgrades it before installing,
# and a pin would make pip replace itself half way through.
NOT_PINNED = {"pip", "setuptools", "wheel"}


def _applies(requirement: Requirement, extra: str) -> bool:
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate({**default_environment(), "extra": extra})


def closure(requirements: list[Requirement]) -> dict[str, str]:
    """Every distribution these requirements install here, with its installed version."""
    found: dict[str, str] = {}
    pending = [(r, "") for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement, via_extra = pending.pop()
        if not _applies(requirement, via_extra):
            continue
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        if name in NOT_PINNED:
            continue
        if name == OURS:  # `all` and `test` name the project's own extras
            for extra in requirement.extras:
                pending += [(Requirement(r), "") for r in PROJECT["optional-dependencies"][extra]]
            continue
        dist = metadata.distribution(name)
        found[name] = dist.version
        for text in dist.requires or []:
            inner = Requirement(text)
            extras = [e for e in requirement.extras if _applies(inner, e)] if inner.marker else []
            if inner.marker is None or extras:
                pending.append((inner, extras[0] if extras else ""))
    return found


def pins_by_extra() -> dict[str, dict[str, str]]:
    extras: dict[str, dict[str, str]] = {}
    for extra in EXTRAS:
        texts = PROJECT["dependencies"] if extra == "core" else [
            *PROJECT["dependencies"], *PROJECT["optional-dependencies"][extra]]
        extras[extra] = closure([Requirement(t) for t in texts])
    return extras


def _shortest(extras: list[str]) -> list[str]:
    """Which extras to name: core alone if every installation has it; `all` and `test` only
    when no smaller extra brings it."""
    if "core" in extras:
        return ["core"]
    smaller = [e for e in extras if e not in ("all", "test")]
    return smaller or [e for e in extras if e == "test"] or extras


def render(extras: dict[str, dict[str, str]]) -> str:
    versions: dict[str, str] = {}
    needed_by: dict[str, list[str]] = {}
    for extra, pins in extras.items():
        for name, version in pins.items():
            versions[name] = version
            needed_by.setdefault(name, []).append(extra)
    python = ".".join(map(str, sys.version_info[:2]))
    lines = [
        "# Exact versions the test suite passed with, for reproducible installs:",
        "#   pip install -c constraints.txt '.[cloud]'     (or .[device], .[all], .[test])",
        f"# Written by requirements/freeze_constraints.py from a Python {python} environment",
        "# on Linux; a constraint only applies to what the chosen extras install. The comment",
        "# names the extras that install each one (core: every installation; [all] is device,",
        "# cloud, moonshine and korean; [test] is everything).",
    ]
    width = max(len(f"{n}=={v}") for n, v in versions.items()) + 2
    for name in sorted(versions):
        pin = f"{name}=={versions[name]}"
        lines.append(f"{pin:<{width}}# {', '.join(_shortest(needed_by[name]))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(pins_by_extra()))
