"""Rules, or parts of rules, that only a unit test can reach: the check runs that test.

The tests live in the source tree's tests/ folder, which a wheel does not install. There the
check says plainly that it is not applicable instead of claiming the rule held.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from scenarios.args import ArgumentError, str_list
from scenarios.checks import Observation, check
from scenarios.context import ScenarioContext
from scenarios.processes import REPO_ROOT

NODE_ID = re.compile(r"tests/[A-Za-z0-9_/]+\.py(::[A-Za-z0-9_\[\]-]+)?")
TIMEOUT_S = 120


def missing_test_suite(tests: list[str], root: Path = REPO_ROOT) -> str | None:
    """Why these tests cannot run from this installation, or None when they can."""
    absent = sorted({node.split("::")[0] for node in tests
                     if not (root / node.split("::")[0]).is_file()})
    if absent:
        return (f"not applicable when installed without the test suite: {', '.join(absent)} "
                f"not found under {root}; run the scenarios from a source checkout to run them")
    if importlib.util.find_spec("pytest") is None:
        return "not applicable: pytest is not installed (install the [test] extra)"
    return None


@check("unit_test")
def unit_test(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Run the named tests with pytest; held when every one of them ran and passed."""
    tests = str_list(args, "tests")
    for node in tests:
        if not NODE_ID.fullmatch(node):
            raise ArgumentError(f"{node!r} is not a test id like tests/test_x.py::test_y")
    reason = missing_test_suite(tests)
    if reason is not None:
        return Observation(False, reason, applicable=False)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
         "-o", "addopts=", *tests],
        capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO_ROOT, check=False)
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1]
    passed = re.search(r"(\d+) passed", summary)
    failed_or_skipped = re.search(r"(failed|error|skipped|no tests ran)", summary)
    held = result.returncode == 0 and passed is not None and failed_or_skipped is None \
        and int(passed[1]) >= len(tests)
    return Observation(held, f"pytest {' '.join(tests)}: {summary}")
