"""`teddy device pair` and `teddy device ledger`: pairing a toy by hand and reading its ledger."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import add_child, add_parent

from cloud import pairing
from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess, free_port


def teddy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


def _pairing_code(db_path: str) -> str:
    db = open_db(db_path)
    now = time.time()
    child_id = add_child(db, add_parent(db, f"cli-{now}@example.com", now), now)
    code = pairing.issue_code(db, child_id, now)
    db.close()
    return code


def test_a_new_toy_pairs_starts_at_deny_all_and_lists_what_it_sent(cloud, tmp_path: Path):
    state = tmp_path / "toy"
    unused = teddy("device", "ledger", "--state", str(state))
    assert unused.returncode == 2 and "no toy was ever paired there" in unused.stderr
    result = teddy("device", "pair", "--cloud", cloud.url, "--code",
                   _pairing_code(cloud.db_path), "--state", str(state))
    assert result.returncode == 0, result.stderr
    assert "nothing yet (the toy plays offline)" in result.stdout
    ledger = teddy("device", "ledger", "--state", str(state), "--json")
    entries = [json.loads(line) for line in ledger.stdout.splitlines()]
    assert [(e["path"], e["status"]) for e in entries] == [("/api/v1/pair", 201),
                                                           ("/api/v1/policy", 200)]
    table = teddy("device", "ledger", "--state", str(state)).stdout
    assert "2 requests" in table and "<pairing code>" in table


def test_a_wrong_pairing_code_is_refused_and_leaves_the_toy_unpaired(cloud, tmp_path: Path):
    state = tmp_path / "toy"
    result = teddy("device", "pair", "--cloud", cloud.url, "--code", "AAAA-AAAA",
                   "--state", str(state))
    assert result.returncode == 1
    assert "pairing refused: unknown or expired pairing code" in result.stderr
    assert not (state / "credentials.json").exists()


def test_an_unreachable_cloud_or_missing_ca_is_a_clear_error(tmp_path: Path):
    state = tmp_path / "toy"
    offline = teddy("device", "pair", "--cloud", f"http://127.0.0.1:{free_port()}", "--code",
                    "AAAA-AAAA", "--state", str(state))
    assert offline.returncode == 1 and "cannot reach the cloud" in offline.stderr
    no_ca = teddy("device", "pair", "--cloud", "https://127.0.0.1:1", "--code", "AAAA-AAAA",
                  "--ca", str(tmp_path / "missing.pem"), "--state", str(state))
    assert no_ca.returncode == 2 and "no CA certificate" in no_ca.stderr
    assert not (state / "credentials.json").exists()
