"""Rules, or parts of rules, that only a unit test can reach: the check runs that test."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from scenarios.args import ArgumentError, str_list
from scenarios.checks import Observation, check
from scenarios.context import ScenarioContext
from scenarios.processes import REPO_ROOT

NODE_ID = re.compile(r"tests/[A-Za-z0-9_/]+\.py(::[A-Za-z0-9_\[\]-]+)?")
TIMEOUT_S = 120


@check("unit_test")
def unit_test(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Run the named tests with pytest; held when every one of them ran and passed."""
    tests = str_list(args, "tests")
    for node in tests:
        if not NODE_ID.fullmatch(node):
            raise ArgumentError(f"{node!r} is not a test id like tests/test_x.py::test_y")
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
