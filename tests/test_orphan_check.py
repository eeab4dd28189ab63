"""The session-end check against a planted orphan, in a run of its own with two xdist workers
as bootstrap.sh runs the tiers, and serially (one core): the run fails and the orphan dies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import descendants, stop_all

TESTS = Path(__file__).resolve().parent

PLANTED = '''
import subprocess, sys

def test_leaves_an_orphan():
    # The shell exits at once and leaves its background child running.
    subprocess.run(["sh", "-c", sys.executable + ' -c "import time; time.sleep(120)" {marker}'
                    " </dev/null >/dev/null 2>&1 &"], check=True, timeout=10)

def test_tidy():
    pass
'''

TIDY = "def test_tidy():\n    pass\n"


def _run_planted(folder: Path, source: str, *workers: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_planted.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "orphan_check",
                           "-p", "no:cacheprovider", "-o", "orphan_grace_seconds=0.5",
                           "--rootdir", str(folder), "-c", os.devnull, *workers,
                           "test_planted.py"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _still_running(marker: str) -> list:
    return [info for info in descendants() if marker in info.command]


@pytest.mark.parametrize("workers", [
    pytest.param(("-n", "2"), id="two-xdist-workers"),
    pytest.param(("-p", "no:xdist"), id="serial",
                 marks=pytest.mark.slow("a second pytest run of its own (about 3 s)")),
])
def test_an_orphan_left_by_a_test_fails_the_run_and_is_killed(tmp_path, workers):
    marker = f"planted-orphan-{tmp_path.name}"
    try:
        run = _run_planted(tmp_path, PLANTED.replace("{marker}", marker), *workers)
        assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout[-3000:]
        assert "2 passed" in run.stdout
        assert "1 process(es) started by the tests were still running" in run.stdout
        assert marker in run.stdout
        assert _still_running(marker) == []
    finally:
        stop_all(_still_running(marker))


@pytest.mark.slow("a pytest run of its own with two workers (about 3 s)")
def test_a_tidy_run_under_xdist_passes(tmp_path):
    # The control: the xdist workers themselves are not counted as left running.
    run = _run_planted(tmp_path, TIDY, "-n", "2")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "still running" not in run.stdout
