"""Teddy beside other distributions: its top-level names are `teddy` (also an unrelated project
on PyPI), `device`, `cloud`, `scenarios` and `audio_fixtures`. pip installs two distributions
that ship the same top-level package into one folder without a word, so Teddy notices itself:
`teddy` refuses to start when files of its own were overwritten, and `teddy device doctor`
names any other distribution that shares a top-level package.

The other distributions are stand-ins built here (a wheel is a zip file), so nothing comes
from the network and nothing unknown is installed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from build_helpers import build_from_tree

from device.doctor import FAILED, OK, check_installation
from teddy.installation import installation_problems, other_owners, overwritten_files

ROOT = Path(__file__).resolve().parent.parent


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode()


def standin_wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal, valid wheel of distribution `name` holding `files` (path -> text)."""
    dist_info = f"{name.replace('-', '_')}-1.0.dist-info"
    tops = sorted({path.split("/")[0] for path in files})
    contents = {**{path: text.encode() for path, text in files.items()},
                f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
                                         f"Version: 1.0\n".encode(),
                f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\n"
                                      b"Root-Is-Purelib: true\nTag: py3-none-any\n",
                f"{dist_info}/top_level.txt": ("\n".join(tops) + "\n").encode()}
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n"
                     for path, data in contents.items()) + f"{dist_info}/RECORD,,\n"
    wheel = folder / f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel


def unpack(wheel: Path, site: Path) -> None:
    """What pip does with a pure-Python wheel, without pip's start-up (seconds here): its
    files and metadata land in one folder. The real pip is in the last test."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)


def pip_install(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_another_distribution_shipping_a_top_level_package_of_ours_is_named(tmp_path):
    site = tmp_path / "site"
    wheel = standin_wheel(tmp_path, "generic-cloud", {"cloud/__init__.py": "NAME = 'other'\n"})
    unpack(wheel, site)
    assert other_owners([str(site)]) == {"cloud": ["generic-cloud"]}
    (problem,) = installation_problems([str(site)])
    assert "'generic-cloud'" in problem and "'cloud'" in problem
    assert "separate virtual environments" in problem
    check = check_installation([str(site)])
    assert check.outcome == FAILED and "'generic-cloud'" in check.detail


def test_a_distribution_with_names_of_its_own_is_not_flagged(tmp_path):
    # Negative control: same shape of wheel, a top-level name nobody else uses.
    site = tmp_path / "site"
    wheel = standin_wheel(tmp_path, "polite", {"polite_cloud/__init__.py": ""})
    unpack(wheel, site)
    assert other_owners([str(site)]) == {}
    assert installation_problems([str(site)]) == []


def test_the_development_environment_itself_is_clean():
    # The editable install records no package files and nothing else here shares a name;
    # with a false alarm here every `teddy device doctor` would fail.
    assert installation_problems(every_file=True) == []
    assert check_installation().outcome == OK


def test_a_changed_or_missing_file_of_ours_is_reported(tmp_path):
    from importlib import metadata

    site = tmp_path / "site"
    wheel = standin_wheel(tmp_path, "teddy-privacy-testbed",
                          {"teddy/__init__.py": "X = 1\n", "cloud/__init__.py": "",
                           "cloud/app.py": "A = 1\n"})
    unpack(wheel, site)
    (ours,) = metadata.distributions(path=[str(site)])
    assert overwritten_files(ours, every_file=True) == []
    (site / "teddy" / "__init__.py").write_text("from teddy.dsl import *\n")
    (site / "cloud" / "app.py").unlink()
    assert overwritten_files(ours) == ["teddy/__init__.py"]
    assert sorted(overwritten_files(ours, every_file=True)) == ["cloud/app.py",
                                                                "teddy/__init__.py"]


# --- as pip leaves a real virtual environment -------------------------------------------------
@pytest.fixture(scope="module")
def our_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = build_from_tree([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                             str(dist), str(ROOT)], timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("teddy_privacy_testbed-*.whl")
    return wheel


def _venv(folder: Path) -> str:
    made = subprocess.run([sys.executable, "-m", "venv", str(folder)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    return str(folder / "bin" / "python")


# The unrelated `teddy` on PyPI ships a regular package `teddy` (teddy/__init__.py and
# modules of its own); this stand-in has the same shape.
UNRELATED_TEDDY = {"teddy/__init__.py": "from teddy.dsl import *\n", "teddy/dsl.py": "X = 1\n"}


def _run(python: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([python, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env, check=False)


@pytest.mark.slow("builds the wheel and installs it into two fresh virtual environments")
def test_pip_beside_an_unrelated_teddy_in_either_order(our_wheel, tmp_path):
    standin = standin_wheel(tmp_path, "unrelated-teddy", UNRELATED_TEDDY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # Ours first, then the other: pip overwrites our teddy/__init__.py and says nothing,
    # nor does `pip check`. `teddy` says what happened instead of a traceback.
    python = _venv(tmp_path / "ours-first")
    assert pip_install(python, str(our_wheel)).returncode == 0
    assert _run(python, "-m", "teddy", "--version", cwd=elsewhere).returncode == 0
    second = pip_install(python, str(standin))
    assert second.returncode == 0 and second.stderr == ""
    # pip check lists only the dependencies left out here (--no-deps), not the clash.
    checked = _run(python, "-m", "pip", "check", cwd=elsewhere).stdout.splitlines()
    assert checked and all(line.endswith("which is not installed.") for line in checked)
    started = _run(str(Path(python).parent / "teddy"), "--version", cwd=elsewhere)
    assert started.returncode == 2 and started.stdout == ""
    assert started.stderr.startswith("teddy: files of teddy-privacy-testbed were overwritten")
    assert "teddy/__init__.py" in started.stderr and "Traceback" not in started.stderr

    # The other first, then ours: ours works, the other is broken and shares a name.
    python = _venv(tmp_path / "other-first")
    assert pip_install(python, str(standin)).returncode == 0
    assert pip_install(python, str(our_wheel)).returncode == 0
    assert _run(python, "-m", "teddy", "--version", cwd=elsewhere).returncode == 0
    found = _run(python, "-c", "from teddy.installation import installation_problems as p; "
                               "print(*p(every_file=True), sep='\\n')", cwd=elsewhere)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("the distribution 'unrelated-teddy' also installs the "
                                   "top-level package 'teddy'")
