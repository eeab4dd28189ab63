"""`teddy demo` tells the whole story over real HTTP, sends no audio, and leaves nothing behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import left_running

from teddy.audio_check import find_audio_signatures

SENT = re.compile(r"^\s+sent\s+: (\{.*\}) \((\d+) bytes\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    replies = tmp_path_factory.mktemp("replies")
    return subprocess.run(
        [sys.executable, "-m", "teddy", "demo", "--replies-dir", str(replies)],
        capture_output=True, text=True, timeout=240,
    )


def test_the_demo_exits_cleanly_and_leaves_no_server_running(demo_run):
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    # The session adopts orphans (tests/process_helpers.py), so a cloud the demo left running
    # would still be this process's descendant; other jobs on the machine are not looked at.
    left = [info for info in left_running(grace_seconds=2) if "teddy-demo-" in info.command]
    assert left == []


def test_the_demo_shows_each_request_body_with_its_true_size_and_none_holds_audio(demo_run):
    bodies = SENT.findall(demo_run.stdout)
    assert len(bodies) >= 4
    for body, size in bodies:
        assert len(body.encode()) == int(size)
        message = json.loads(body)
        assert set(message) == {"message_id", "device_id", "sent_at", "locale", "intent",
                                "slots", "policy_version"}
        assert find_audio_signatures(body.encode()) == []
    assert "audio found on the wire  : none" in demo_run.stdout


def test_the_demo_story_before_consent_personalised_after_and_location_kept_home(demo_run):
    out = demo_run.stdout
    before, after = out.split("== 2.")[0], out.split("== 3.")[1]
    assert "Bytes the toy wrote to the network while playing: 0" in before
    assert SENT.search(before) is None  # nothing about the child before consent
    assert "intent        : greet" in out
    assert "reply (cloud, personalised)" in after and "Emma" in after
    location = after.split("[i_live_at.wav]")[1].split("[")[0]
    assert "share_location" in location and "sent          : nothing" in location


def test_the_demo_writes_reply_audio_when_there_is_no_speaker(demo_run):
    written = re.findall(r"reply audio   : (\S+\.wav)", demo_run.stdout)
    assert written
    assert all(Path(path).stat().st_size > 1000 for path in written)
