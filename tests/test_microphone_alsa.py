"""Microphone capture through a real ALSA device backed by a file.

ALSA's `file` plugin with `infile` plays a raw clip into the capture side, so
sounddevice/PortAudio read it like a microphone. sounddevice caches the device
list at import, so every capture runs in a child process with its own HOME
holding the .asoundrc.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alsa_helpers import virtual_microphone
from speech_helpers import DEMO

from device.audio.wav import load_wav_pcm16

CAPTURE = """
import sys
from device.audio.microphone import capture_chunks
sys.stdout.buffer.write(b"".join(capture_chunks("teddyfile", max_samples=int(sys.argv[1]))))
"""


def _snapshot(*roots: Path) -> set[str]:
    return {str(p) for root in roots for p in root.rglob("*")}


@pytest.fixture
def hello_pcm() -> bytes:
    # A second of quiet after the words lets the endpointer close the utterance.
    return load_wav_pcm16(DEMO / "hello_teddy.wav") + b"\x00\x00" * 16000


def test_capture_is_sample_exact(tmp_path: Path, hello_pcm: bytes) -> None:
    env = virtual_microphone(tmp_path, hello_pcm)
    result = subprocess.run(
        [sys.executable, "-c", CAPTURE, str(len(hello_pcm) // 2)],
        capture_output=True, env=env, timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == hello_pcm


def test_listening_hears_the_intent_and_writes_nothing_to_disk(
    tmp_path: Path, hello_pcm: bytes
) -> None:
    env = virtual_microphone(tmp_path, hello_pcm)
    work, scratch = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    home = Path(env["HOME"])
    before = _snapshot(home, work, scratch)
    seconds = len(hello_pcm) / 2 / 16000 + 1.0
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "device", "listen", "--device", "teddyfile",
         "--mode", "continuous", "--max-seconds", f"{seconds:.1f}", "--json"],
        capture_output=True, text=True, env=env, cwd=work, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    heard = [json.loads(line) for line in result.stdout.splitlines()]
    assert [h["intent"] for h in heard][:1] == ["greet"], result.stdout
    assert _snapshot(home, work, scratch) == before


def test_unknown_input_device_is_a_clear_error(tmp_path: Path) -> None:
    env = virtual_microphone(tmp_path, b"\x00\x00" * 1600)
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "device", "listen", "--device", "no-such-mic",
         "--mode", "continuous", "--max-seconds", "1"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 2
    assert "no-such-mic" in result.stderr


def test_the_live_toy_shows_when_it_listens_and_whether_history_is_kept(tmp_path: Path,
                                                                         hello_pcm: bytes) -> None:
    """R24: a visible listening indicator, and whether a parent can review what was asked."""
    env = virtual_microphone(tmp_path, hello_pcm)
    seconds = len(hello_pcm) / 2 / 16000 + 1.0
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "device", "listen", "--device", "teddyfile",
         "--mode", "continuous", "--max-seconds", f"{seconds:.1f}",
         "--state", str(tmp_path / "toy")],
        capture_output=True, text=True, env=env, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "parent can review what was asked: no" in result.stderr
    assert "○ listening" in result.stderr and "● hearing" in result.stderr
    # Unpaired, the toy answers on its own and says so.
    assert "greet -> Hello there!" in result.stdout and "[toy; sent nothing]" in result.stdout
