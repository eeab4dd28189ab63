"""The toy under faults (issue 15, items 12-15): private, durable state; damaged files give a
clear message and deny-all; nothing leaves unless the ledger has it; pairing never burns a
code it cannot keep; a torn ledger line loses nothing else."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import add_child, add_parent, grant

from cloud import pairing
from cloud.storage.db import open_db
from device.privacy.gate import CREDENTIALS_FILE, EgressGate
from device.privacy.ledger import LEDGER_FILE, EgressLedger, LedgerEntry
from device.privacy.policy import POLICY_FILE
from device.state import StateError, ToyState
from device.toy import Toy
from scenarios.relay import Relay
from teddy.cloud_process import CloudProcess


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


def _code(cloud: CloudProcess, purposes: tuple[str, ...] = ("core",)) -> str:
    db = open_db(cloud.db_path)
    now = time.time()
    parent_id = add_parent(db, f"faults-{now}@example.com", now)
    child_id = add_child(db, parent_id, now)
    if purposes:
        grant(db, parent_id, child_id, list(purposes), now)
    code = pairing.issue_code(db, child_id, now)
    db.close()
    return code


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 12: private state ---------------------------------------------------------------------
def test_an_existing_open_state_folder_and_ledger_are_made_private(cloud, tmp_path: Path):
    folder = tmp_path / "toy"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    (folder / LEDGER_FILE).write_text("")
    os.chmod(folder / LEDGER_FILE, 0o644)
    gate = EgressGate(ToyState(folder))
    gate.pair(cloud.url, _code(cloud))
    Toy(gate).say_text("my name is emma")
    assert _mode(folder) == 0o700
    for name in (LEDGER_FILE, CREDENTIALS_FILE, POLICY_FILE):
        assert _mode(folder / name) == 0o600, name


# -- 13: damaged files -------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ['{"cloud_url": "http://127.0.0.1:1", "devi', "", "[]",
                                    '{"cloud_url": 5}', "\xff\xfe"])
def test_damaged_credentials_are_a_clear_notice_and_deny_all(tmp_path: Path, damage: str):
    state = ToyState(tmp_path / "toy")
    state.directory.mkdir()
    state.path(CREDENTIALS_FILE).write_text(damage, "latin-1")
    gate = EgressGate(state)
    assert not gate.paired and not gate.policy.purposes
    assert "credentials.json is damaged" in (gate.notice or "") or \
        "cannot be read" in (gate.notice or "")
    assert "teddy device pair" in (gate.notice or "")
    turn = Toy(gate).say_text("my name is emma")
    assert turn.sent_body is None and turn.answered_by == "toy"


@pytest.mark.parametrize("cache", ["[]", '["core", "personalisation"]', '{"version": 3',
                                   '{"version": "3", "purposes": ["core"]}'])
def test_a_damaged_policy_cache_means_deny_all_and_says_so(cloud, tmp_path: Path, cache: str):
    state = ToyState(tmp_path / "toy")
    EgressGate(state).pair(cloud.url, _code(cloud))
    state.path(POLICY_FILE).write_text(cache)
    gate = EgressGate(state)
    assert gate.policy.purposes == frozenset()
    assert "policy.json is damaged" in (gate.notice or "")
    gate.refresh_policy()  # the cloud's signed policy replaces it
    assert gate.policy.purposes == frozenset({"core"})


# -- 14: the ledger comes first ----------------------------------------------------------------
def test_when_the_ledger_cannot_be_written_nothing_is_sent(cloud, tmp_path: Path):
    state = ToyState(tmp_path / "toy")
    with Relay(cloud.host, cloud.port) as relay:
        gate = EgressGate(state)
        gate.pair(relay.url, _code(cloud))
        state.path(LEDGER_FILE).unlink()
        state.path(LEDGER_FILE).mkdir()  # as unwritable as a full or read-only disk
        relay.reset_capture()
        turn = Toy(gate).say_text("tell me a story about dinosaurs")
        assert relay.captured_upstream() == b""
    assert turn.answered_by == "toy" and turn.sent_body is None
    assert "cannot write the egress ledger" in turn.reason and "nothing was sent" in turn.reason


@pytest.mark.parametrize("blocked", ["state folder", "credentials file"])
def test_pairing_that_cannot_save_the_key_leaves_the_code_unused(cloud, tmp_path: Path,
                                                                 blocked: str):
    code = _code(cloud)
    if blocked == "state folder":
        (tmp_path / "file").write_text("not a folder")
        state = ToyState(tmp_path / "file" / "toy")
    else:
        state = ToyState(tmp_path / "toy")
        state.path(CREDENTIALS_FILE).mkdir(parents=True)
    with pytest.raises(StateError, match="pairing code is still good"):
        EgressGate(state).pair(cloud.url, code)
    working = ToyState(tmp_path / "working")
    assert EgressGate(working).pair(cloud.url, code).startswith("toy-")


# -- 15: torn ledger lines ---------------------------------------------------------------------
def test_a_torn_last_ledger_line_is_skipped_and_swallows_nothing(cloud, tmp_path: Path):
    state = ToyState(tmp_path / "toy")
    gate = EgressGate(state)
    gate.pair(cloud.url, _code(cloud))
    with state.path(LEDGER_FILE).open("a") as ledger:
        ledger.write('{"at": 1, "method": "POST", "path": "/api/v1/int')  # power cut here
    gate.refresh_policy()
    reading = EgressLedger(state).read()
    assert [(e.path, e.status) for e in reading.entries] == [
        ("/api/v1/pair", 201), ("/api/v1/policy", 200), ("/api/v1/policy", 200)]
    assert reading.damaged_lines == [5]
    for line in state.path(LEDGER_FILE).read_text().splitlines()[5:]:
        json.loads(line)


def test_state_and_ledger_writes_reach_the_disk_before_they_count(monkeypatch, tmp_path: Path):
    """fsync on the ledger before anything is sent, on state files before their rename, and
    on the folder after it, so a power cut keeps what the toy says it wrote."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(source, target) -> None:  # type: ignore[no-untyped-def]
        events.append(f"replace {Path(target).name}")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", rename)
    state = ToyState(tmp_path / "toy")
    state.write_json(POLICY_FILE, {"version": 1, "purposes": ["core"]})
    assert events == ["fsync policy.json.tmp", "replace policy.json", "fsync toy"]
    events.clear()
    EgressLedger(state).record_request(LedgerEntry(at=1.0, method="GET", path="/api/v1/policy",
                                                   purpose="consent-check", body_bytes=0,
                                                   body="", status=None))
    assert events == [f"fsync {LEDGER_FILE}"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real full disk (needs root, as on the CI machine)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                              str(mount_point)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_on_a_full_disk_nothing_leaves_unledgered_and_pairing_keeps_its_code(
        cloud, small_disk: Path):
    code = _code(cloud)
    state = ToyState(small_disk / "toy")
    filler = _fill(small_disk)
    with pytest.raises(StateError, match="pairing code is still good"):
        EgressGate(state).pair(cloud.url, code)
    filler.unlink()
    with Relay(cloud.host, cloud.port) as relay:
        gate = EgressGate(state)
        gate.pair(relay.url, code)  # the same code still works
        filler = _fill(small_disk)
        # The ledger's last page may still hold a line or two; after that nothing may leave.
        for _ in range(200):
            turn = Toy(gate).say_text("tell me a story about dinosaurs")
            if turn.sent_body is None:
                break
        # The first durable write before sending is the outbox's (device/privacy/outbox.py),
        # then the ledger's: whichever the full disk stops first, nothing leaves.
        assert ("cannot write the egress ledger" in turn.reason
                or "cannot write the toy's outbox" in turn.reason), turn.reason
        assert "nothing was sent" in turn.reason
        on_the_wire = relay.captured_upstream().count(b"POST /api/v1/intent ")
        filler.unlink()
        after = Toy(gate).say_text("tell me a story about dinosaurs")
        assert after.answered_by == "cloud"
    reading = EgressLedger(state).read()
    assert reading.damaged_lines == []
    intents = [e for e in reading.entries if e.path == "/api/v1/intent"]
    assert len(intents) == on_the_wire + 1  # every request that left is in the ledger
    assert gate.policy.purposes == frozenset({"core"})
