"""The source distribution holds what the README refers to, and nothing git ignores.

README.md names files and folders (docs/cloud.md, requirements/korean.txt, bootstrap.sh,
.ci/run, tests/process_helpers.py...). Someone reading it from an unpacked sdist must find
them; MANIFEST.in says what goes in beyond the packages. Files git ignores (databases, keys,
caches) must never be shipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from build_helpers import build_from_tree

ROOT = Path(__file__).resolve().parent.parent
# A path as prose writes it (words joined by "/", or a file name with an extension), or any
# Markdown link's target ([LICENSE](LICENSE)).
PATH_LIKE = re.compile(r"\.?[\w.-]+(?:/[\w.-]*)+|[\w.-]+\.(?:md|txt|sh|toml|yaml|py|jsonl?|in)\b"
                       r"|(?<=\]\()[^)#\s]+")
# What the build writes into every sdist itself.
GENERATED = re.compile(r"^(PKG-INFO|setup\.cfg|[\w.-]+\.egg-info/.*)$")


def repository_files() -> set[str]:
    """Tracked files and new ones git does not ignore: what a commit would hold."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return {line for line in listed.stdout.splitlines() if (ROOT / line).exists()}


def mentioned_paths(text: str, files: set[str]) -> set[str]:
    """The repository's files and folders that `text` names (links and prose alike)."""
    folders = {str(Path(f).parent) for f in files} | {
        str(parent) for f in files for parent in Path(f).parents}
    found = set()
    for match in PATH_LIKE.finditer(text):
        candidate = match.group().split("#")[0].removeprefix("./").rstrip(".,:;)").rstrip("/")
        if candidate in files or (candidate in folders and candidate != "."):
            found.add(candidate)
    return found


def missing_from(archive_names: set[str], mentioned: set[str]) -> list[str]:
    return sorted(path for path in mentioned if path not in archive_names
                  and not any(name.startswith(path + "/") for name in archive_names))


def test_the_path_finder_sees_links_prose_and_folders():
    files = {"docs/cloud.md", "requirements/korean.txt", ".ci/run", "bootstrap.sh",
             "audio_fixtures/clips/a.wav"}
    files.add("LICENSE")
    text = ("See [docs/cloud.md](docs/cloud.md#fleet) and [the licence](LICENSE), run "
            "`./bootstrap.sh` or `.ci/run`; "
            "pins in requirements/korean.txt. The audio_fixtures/ folder. Not a path: req/s, "
            "/healthz, docs/missing.md.")
    assert mentioned_paths(text, files) == {"docs/cloud.md", "LICENSE", "bootstrap.sh", ".ci/run",
                                            "requirements/korean.txt", "audio_fixtures"}


def test_a_mentioned_path_left_out_of_the_archive_is_reported():
    # Negative control for the check below: an archive without the docs folder.
    archive = {"README.md", "bootstrap.sh", "requirements/korean.txt"}
    mentioned = {"README.md", "docs/cloud.md", "docs", "requirements"}
    assert missing_from(archive, mentioned) == ["docs", "docs/cloud.md"]


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("sdist")
    built = build_from_tree([sys.executable, "-m", "build", "--sdist", "--outdir", str(out),
                             str(ROOT)], cwd=out, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (archive,) = out.glob("teddy_privacy_testbed-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    return {name.split("/", 1)[1] for name in names}


@pytest.mark.slow("builds the sdist in an isolated build environment (about 16 s)")
def test_the_sdist_holds_every_path_the_readme_mentions(sdist_names):
    mentioned = mentioned_paths((ROOT / "README.md").read_text(), repository_files())
    assert len(mentioned) >= 20, sorted(mentioned)
    assert missing_from(sdist_names, mentioned) == []
    # So does the packaging note, and the pins the README's install line uses.
    assert {"docs/packaging.md", "constraints.txt", "MANIFEST.in"} <= sdist_names


@pytest.mark.slow("builds the sdist in an isolated build environment (about 16 s)")
def test_the_sdist_ships_nothing_git_ignores(sdist_names):
    shipped = {name for name in sdist_names if not GENERATED.match(name)}
    assert sorted(shipped - repository_files()) == []
    assert not [n for n in sdist_names if n.startswith("audio_fixtures/clips/")]
