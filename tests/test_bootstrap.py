"""`./bootstrap.sh test`: the tiers, arguments passed on to pytest, and no silent empty run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WHEEL_TESTS = "tests/test_wheel_install.py"


def _bootstrap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "bootstrap.sh"), "test", *args], capture_output=True,
                          text=True, timeout=300, check=False, cwd="/")


@pytest.mark.slow("runs bootstrap.sh twice: ruff over the tree and two collections")
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(),
                    reason="needs the checkout's own .venv (./bootstrap.sh makes it)")
def test_the_fast_tier_leaves_slow_tests_out_and_full_keeps_them():
    fast = _bootstrap("--collect-only", "-q", WHEEL_TESTS)
    # Every wheel test is slow: the fast tier collects none, and says so instead of passing.
    assert fast.returncode == 5, fast.stdout[-2000:] + fast.stderr[-2000:]
    assert "pytest ran no tests" in fast.stderr and "--full" in fast.stderr
    full = _bootstrap("--collect-only", "-q", "--full", WHEEL_TESTS)
    assert full.returncode == 0, full.stdout[-2000:] + full.stderr[-2000:]
    assert f"{WHEEL_TESTS}::" in full.stdout and "--full" not in full.stdout
