"""`teddy device status` and `teddy device unpair`: what the toy keeps, and forgetting it."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import pair_toy_with

from teddy.cloud_process import CloudProcess

TEDDY_FILES = {"credentials.json", "policy.json", "egress-ledger.jsonl"}


def device(*args: str, stdin: int | None = subprocess.DEVNULL
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "device", *args], stdin=stdin,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


@pytest.fixture
def paired(cloud: CloudProcess, tmp_path: Path) -> Path:
    return pair_toy_with(cloud, tmp_path / "toy")


def test_status_of_a_toy_never_paired_creates_nothing(tmp_path: Path):
    state = tmp_path / "toy"
    text = device("status", "--state", str(state))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("paired:      no (answers on its own and sends nothing")
    assert "(not made yet)" in text.stdout and "0 unanswered messages" in text.stdout
    report = json.loads(device("status", "--state", str(state), "--json").stdout)
    assert report["paired"] is False and report["files"] == [] and report["requests_sent"] == 0
    assert not state.exists()


def test_status_of_a_paired_toy_names_cloud_files_and_model(cloud: CloudProcess,
                                                            paired: Path):
    report = json.loads(device("status", "--state", str(paired), "--json",
                               "--engine", "pocketsphinx").stdout)
    assert report["paired"] is True and report["cloud_url"] == cloud.url
    assert report["device_id"].startswith("toy-")
    assert {f["name"] for f in report["files"]} == TEDDY_FILES
    # The pairing and the first policy fetch, both in the ledger.
    assert report["requests_sent"] == 2 and report["pending_offline_messages"] == 0
    assert report["engine"]["engine"] == "pocketsphinx"
    assert Path(report["engine"]["model"]).is_dir()
    text = device("status", "--state", str(paired)).stdout
    assert f"paired:      yes, as {report['device_id']} with {cloud.url}" in text
    assert "credentials.json" in text and "the egress ledger" in text


def test_status_shows_a_speech_model_that_is_missing(tmp_path: Path):
    report = json.loads(device("status", "--state", str(tmp_path / "toy"), "--json",
                               "--engine", "vosk", "--model", str(tmp_path / "nope")).stdout)
    assert report["engine"]["engine"] is None
    assert "Vosk model directory not found" in report["engine"]["problem"]


def test_unpair_with_yes_removes_teddys_files_and_nothing_else(paired: Path):
    (paired / "holiday.jpg").write_bytes(b"not Teddy's")
    (paired / "policy.json.tmp").write_text("{")  # a write a crash cut short
    result = device("unpair", "--state", str(paired), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["was_paired"] is True
    assert {f["name"] for f in report["removed"]} == TEDDY_FILES | {"policy.json.tmp"}
    assert [p.name for p in paired.iterdir()] == ["holiday.jpg"]
    status = json.loads(device("status", "--state", str(paired), "--json").stdout)
    assert status["paired"] is False and status["requests_sent"] == 0
    again = device("unpair", "--state", str(paired), "--yes")
    assert again.returncode == 0 and again.stdout.startswith("nothing to remove")


def test_unpair_says_in_words_what_it_removed(paired: Path):
    result = device("unpair", "--state", str(paired), "--yes")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("removed credentials.json (") and "device key" in lines[0]
    assert lines[2].startswith("removed egress-ledger.jsonl (")
    assert lines[3].startswith("unpaired: toy-") and "parent page" in lines[3]


def test_unpair_without_a_terminal_or_yes_changes_nothing(paired: Path):
    before = sorted(p.name for p in paired.iterdir())
    result = device("unpair", "--state", str(paired))
    assert result.returncode == 2 and "add --yes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in paired.iterdir()) == before


@pytest.mark.parametrize(("answer", "removed"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_unpair_at_a_terminal_asks_first(paired: Path, answer: str, removed: bool):
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode())
        result = device("unpair", "--state", str(paired), stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)
    assert "Remove them? [y/N]" in result.stderr and "credentials.json" in result.stderr
    assert result.returncode == (0 if removed else 1), result.stderr
    assert (paired / "credentials.json").exists() is not removed
    assert (paired / "egress-ledger.jsonl").exists() is not removed


def test_unpair_of_a_mistyped_state_folder_is_an_input_error(tmp_path: Path):
    result = device("unpair", "--state", str(tmp_path / "tyo"), "--yes")
    assert result.returncode == 2 and "no toy state at" in result.stderr


def test_a_toy_unpaired_locally_answers_on_its_own(cloud: CloudProcess, paired: Path):
    assert device("unpair", "--state", str(paired), "--yes").returncode == 0
    from device.privacy.gate import EgressGate
    from device.state import ToyState

    gate = EgressGate(ToyState(paired))
    assert not gate.paired
    assert gate.decide("greet", {}, "en").message is None




def _policy_status_with(credentials: dict[str, str]) -> int:
    """What the cloud answers a policy request signed with these (saved) credentials."""
    from device.client.http import CloudTransport, Credentials

    saved = Credentials(**credentials)
    return CloudTransport(saved.cloud_url, saved.ca_file).send(
        "GET", "/api/v1/policy", b"", saved).status


def test_unpair_makes_the_cloud_forget_the_toys_key(cloud: CloudProcess, paired: Path):
    credentials = json.loads((paired / "credentials.json").read_text())
    assert _policy_status_with(credentials) == 200
    result = device("unpair", "--state", str(paired), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cloud"] == {
        "forgotten": True, "said": "the cloud forgot this toy and its key"}
    # A copy of the key taken before unpairing no longer works.
    assert _policy_status_with(credentials) == 401
    with sqlite3.connect(cloud.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM devices WHERE id = ?",
                          [credentials["device_id"]]).fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM seen_nonces WHERE device_id = ?",
                          [credentials["device_id"]]).fetchone() == (0,)


def test_unpair_killed_after_the_cloud_forgot_finishes_when_run_again(
        cloud: CloudProcess, paired: Path):
    # As if killed -9 between the cloud's answer and removing the files: they are still there.
    kept = {name: (paired / name).read_bytes() for name in TEDDY_FILES
            if (paired / name).exists()}
    assert device("unpair", "--state", str(paired), "--yes").returncode == 0
    for name, data in kept.items():
        (paired / name).write_bytes(data)
    again = device("unpair", "--state", str(paired), "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cloud"] == {
        "forgotten": True, "said": "the cloud no longer accepts this toy's key"}
    assert not (paired / "credentials.json").exists()


def test_negative_control_removing_the_toys_files_alone_leaves_its_key_working(
        cloud: CloudProcess, paired: Path):
    from device.state import ToyState
    from device.toy_status import unpair

    credentials = json.loads((paired / "credentials.json").read_text())
    unpair(ToyState(paired))
    assert not (paired / "credentials.json").exists()
    assert _policy_status_with(credentials) == 200


def test_unpair_with_the_cloud_away_still_forgets_here_and_says_what_is_left(
        cloud: CloudProcess, paired: Path):
    from teddy.cloud_process import free_port

    credentials = json.loads((paired / "credentials.json").read_text())
    away = {**credentials, "cloud_url": f"http://127.0.0.1:{free_port()}"}
    (paired / "credentials.json").write_text(json.dumps(away))
    result = device("unpair", "--state", str(paired), "--yes")
    assert result.returncode == 0, result.stderr
    assert not (paired / "credentials.json").exists()
    assert "the cloud could not be told" in result.stdout
    assert "until a parent removes the toy on the parent page" in result.stdout


def test_damaged_credentials_are_named_by_status_and_removed_by_unpair(tmp_path: Path):
    state = tmp_path / "toy"
    state.mkdir()
    (state / "credentials.json").write_text('{"cloud_url": "http://127.0.0.1:1", "dev')
    result = device("status", "--state", str(state))
    assert result.returncode == 0 and result.stdout.startswith("paired:      no")
    assert "credentials.json is damaged" in result.stderr and "Traceback" not in result.stderr
    assert "credentials.json (" in result.stdout  # still listed: it is still on disk
    removed = device("unpair", "--state", str(state), "--yes", "--json")
    assert [f["name"] for f in json.loads(removed.stdout)["removed"]] == ["credentials.json"]
    assert list(state.iterdir()) == []


def test_an_unanswered_message_is_shown_as_pending_and_unpair_removes_it(paired: Path):
    from device.privacy.outbox import OUTBOX_FILE, Outbox, PendingMessage
    from device.state import ToyState

    Outbox(ToyState(paired)).add(PendingMessage("a" * 32, "personalisation", 1.0))
    status = json.loads(device("status", "--state", str(paired), "--json").stdout)
    assert status["pending_offline_messages"] == 1
    assert OUTBOX_FILE in {f["name"] for f in status["files"]}
    assert "1 unanswered messages" in device("status", "--state", str(paired)).stdout
    result = device("unpair", "--state", str(paired), "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert OUTBOX_FILE in {f["name"] for f in json.loads(result.stdout)["removed"]}
    assert not (paired / OUTBOX_FILE).exists()
