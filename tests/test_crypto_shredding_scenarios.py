"""The per-child-key checks catch their negative controls and pass the real cloud.

Runs the real scenario runner (real gunicorn clouds, real toys) on the deletion story and on
the two cloud variants: one that keeps the child's key after deleting the rows, one that keeps
a plain-text copy beside each sealed value. Also runs the older negative controls whose bytes
check must now see through sealing: a flagged-but-kept child's name is sealed, yet readable
with the key the cloud kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = REPO / "scenarios" / "catalogue"
STORIES = ("08_deletion_request.yaml", "99_cloud_keeps_key.yaml",
           "99_cloud_plaintext_beside_sealed.yaml", "92_cloud_flag_delete.yaml")
pytestmark = pytest.mark.slow("runs four stories (the catalogue run covers them too)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("crypto-scenarios")
    env = {**os.environ, "TMPDIR": str(work), "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "scenarios", "run", "--jobs", "2", "--json-file",
         str(work / "r.json"), *(str(CATALOGUE / name) for name in STORIES)],
        capture_output=True, text=True, timeout=900, cwd=REPO, env=env, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads((work / "r.json").read_text())


def _checks(report: dict[str, Any], scenario: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"] if c["scenario"] == scenario}


def test_the_real_cloud_seals_and_destroys_the_key(report: dict[str, Any]) -> None:
    checks = _checks(report, "deletion-request")
    assert checks["sealed-at-rest"]["observed"] == "held"
    assert checks["key-destroyed"]["observed"] == "held"
    assert "tombstone" in checks["key-destroyed"]["evidence"]
    assert checks["canary-gone"]["observed"] == "held"


def test_a_cloud_that_keeps_the_key_is_caught(report: dict[str, Any]) -> None:
    caught = _checks(report, "cloud-keeps-key")["key-kept"]
    assert caught["observed"] == "violated" and caught["status"] == "pass"
    assert "key is live" in caught["evidence"]


def test_a_plaintext_copy_beside_the_sealed_value_is_caught(report: dict[str, Any]) -> None:
    caught = _checks(report, "cloud-plaintext-beside-sealed")["plaintext-beside-sealed"]
    assert caught["observed"] == "violated" and caught["status"] == "pass"
    assert "sealed_lookup.value" in caught["evidence"]


def test_a_sealed_copy_a_kept_key_opens_counts_as_found(report: dict[str, Any]) -> None:
    caught = _checks(report, "cloud-flag-delete")["canary-gone-from-bytes"]
    assert caught["observed"] == "violated"
    assert "opened with child" in caught["evidence"]
