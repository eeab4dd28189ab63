"""`teddy device listen --input`: a paired toy driven from WAV files, with no microphone.

The clips go through the same Toy the microphone feeds (recogniser, privacy gate, cloud or
local reply), so a user without a microphone can follow the whole journey: pair, talk, the
parent withdraws consent, the parent deletes the child.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import add_child, add_parent, grant
from speech_helpers import DEMO

from cloud import pairing
from cloud.retention.erasure import erase_child
from cloud.retention.revocation import revoke_and_erase
from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess

# PocketSphinx loads in about a second; these tests are about the toy path, not accuracy.
ENGINE = ("--engine", "pocketsphinx")


def device(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "device", *args],
                          capture_output=True, text=True, timeout=120)


def turns(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


@pytest.mark.slow("four toy runs, each loading the recogniser, against a real cloud")
def test_pair_talk_withdraw_delete_from_files(cloud: CloudProcess, tmp_path: Path):
    state = str(tmp_path / "toy")
    db = open_db(cloud.db_path)
    now = time.time()
    parent = add_parent(db, f"files-{now}@example.com", now)
    child = add_child(db, parent, now)
    grant(db, parent, child, ["core", "personalisation"], now)
    code = pairing.issue_code(db, child, now)
    db.close()
    assert device("pair", "--cloud", cloud.url, "--code", code, "--state", state
                  ).returncode == 0

    talk = ("listen", "--state", state, *ENGINE, "--input", str(DEMO / "hello_teddy.wav"),
            str(DEMO / "my_name_is_emma.wav"), str(DEMO / "i_live_at.wav"))
    text = device(*talk)
    assert text.returncode == 0, text.stderr
    assert "greet -> Hello there!" in text.stdout and "[cloud; sent" in text.stdout
    assert "share_name -> Nice to meet you, Emma!" in text.stdout
    # Where a child lives never leaves the toy, from files as from the microphone.
    assert "share_location" in text.stdout and "[toy; sent nothing]" in text.stdout

    first = turns(device(*talk, "--json"))
    assert [(t["intent"], t["answered_by"]) for t in first] == [
        ("greet", "cloud"), ("share_name", "cloud"), ("share_location", "toy")]
    assert first[1]["personalised"] and first[1]["sent_bytes"] > 0
    assert first[2]["sent_bytes"] == 0 and first[2]["file"].endswith("i_live_at.wav")

    db = open_db(cloud.db_path)
    revoke_and_erase(db, child_id=child, parent_id=parent, purposes=["personalisation"],
                     now=time.time())
    db.close()
    withdrawn = turns(device(*talk, "--json"))
    # The name now stays on the toy; the greeting still goes (core is still allowed).
    assert withdrawn[0]["answered_by"] == "cloud"
    assert withdrawn[1]["answered_by"] == "toy" and withdrawn[1]["sent_bytes"] == 0

    db = open_db(cloud.db_path)
    erase_child(db, child_id=child, parent_id=parent, now=time.time(), db_path=cloud.db_path)
    db.close()
    deleted = device(*talk)
    assert deleted.returncode == 0, deleted.stderr
    assert "the cloud no longer accepts this toy" in deleted.stderr
    assert "[cloud;" not in deleted.stdout


def test_an_unpaired_toy_answers_clips_itself_and_sends_nothing(tmp_path: Path):
    state = tmp_path / "toy"
    result = turns(device("listen", "--state", str(state), *ENGINE, "--json", "--input",
                          str(DEMO / "joke.wav")))
    assert [(t["intent"], t["answered_by"], t["sent_bytes"]) for t in result] == [
        ("tell_joke", "toy", 0)]
    assert not (state / "egress-ledger.jsonl").exists()


def test_a_bad_file_stops_before_the_toy_hears_anything(tmp_path: Path):
    state = tmp_path / "toy"
    missing = tmp_path / "missing.wav"
    result = device("listen", "--state", str(state), "--input", str(DEMO / "joke.wav"),
                    str(missing))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("teddy device: ") and "Traceback" not in result.stderr
    assert str(missing) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not state.exists()


@pytest.mark.parametrize("option", [("--device", "teddyfile"), ("--mode", "continuous"),
                                    ("--max-seconds", "3")])
def test_microphone_options_do_not_mix_with_input(tmp_path: Path, option: tuple[str, str]):
    result = device("listen", *option, "--input", str(DEMO / "joke.wav"))
    assert result.returncode == 2 and "--input replaces the microphone" in result.stderr
