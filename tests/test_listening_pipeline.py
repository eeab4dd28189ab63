"""One listening pipeline: the microphone and --input files give the same turns, and the
microphone's audio is wiped by Toy.recognise like a file's.

The microphone is real: ALSA's `file` plugin plays the clips into a capture device that
sounddevice reads sample-exact (tests/alsa_helpers.py). Captures run in child processes
because sounddevice caches the device list at import.
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

CLIPS = [DEMO / "hello_teddy.wav", DEMO / "my_name_is_emma.wav"]
SILENCE = b"\x00\x00" * 16000  # a second of quiet closes each utterance at the endpointer
ENGINE = ("--engine", "pocketsphinx")  # loads in about a second; the path is under test
# What differs by source and by machine: where the audio came from, and how long it took.
SOURCE_FIELDS = ("file", "timings_ms")


def _microphone_pcm() -> bytes:
    return b"".join(load_wav_pcm16(clip) + SILENCE for clip in CLIPS)


def _stage_messages(stdout: str) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in SOURCE_FIELDS}
            for line in stdout.splitlines()]


@pytest.mark.slow("two toy runs, each loading the recogniser, one through a virtual microphone")
def test_the_microphone_and_files_give_the_same_stage_messages(tmp_path: Path) -> None:
    pcm = _microphone_pcm()
    env = virtual_microphone(tmp_path, pcm)
    seconds = len(pcm) / 2 / 16000 + 1.0
    listen = [sys.executable, "-m", "teddy", "device", "listen", *ENGINE, "--json"]
    from_microphone = subprocess.run(
        [*listen, "--state", str(tmp_path / "mic-toy"), "--device", "teddyfile",
         "--mode", "continuous", "--max-seconds", f"{seconds:.1f}"],
        capture_output=True, text=True, env=env, timeout=120)
    from_files = subprocess.run(
        [*listen, "--state", str(tmp_path / "file-toy"), "--input", *map(str, CLIPS)],
        capture_output=True, text=True, env=env, timeout=120)
    assert from_microphone.returncode == 0, from_microphone.stderr
    assert from_files.returncode == 0, from_files.stderr
    microphone = _stage_messages(from_microphone.stdout)
    files = _stage_messages(from_files.stdout)
    assert [m["intent"] for m in files] == ["greet", "share_name"], files
    assert microphone == files
    records = [json.loads(line) for line in from_microphone.stdout.splitlines()]
    assert {r["file"] for r in records} == {None}
    assert all("asr" in r["timings_ms"] for r in records)


# The pipeline the CLI runs, or a loop that bypasses Toy.recognise as `listen` used to: the
# negative control the wipe check must catch.
LISTEN_AND_REPORT = """
import json, sys, threading
from device.listening import Turn, WakeGate, listen, microphone_utterances
from device.locales import locale_profile
from device.privacy.gate import EgressGate
from device.speech import Understander
from device.state import ToyState
from device.toy import Toy

variant, seconds, state = sys.argv[1], float(sys.argv[2]), sys.argv[3]
toy = Toy(EgressGate(ToyState(state)), understander=Understander("pocketsphinx"))
stop = threading.Event()
threading.Timer(seconds, stop.set).start()
given = []

def keep(utterance):
    given.append((utterance, len(utterance.pcm)))
    return utterance

utterances = map(keep, microphone_utterances("teddyfile", stop))
if variant == "pipeline":
    intents = [m.turn.intent for m in listen(toy, utterances, WakeGate("continuous",
               locale_profile("en"))) if isinstance(m, Turn)]
else:
    intents = [toy.respond(toy.understander.hear(bytes(u.pcm))).intent for u in utterances]
print(json.dumps({"intents": intents, "heard_bytes": [n for _, n in given],
                  "left_bytes": [len(u.pcm) for u, _ in given],
                  "left_nonzero": [any(u.pcm) for u, _ in given]}))
"""


def _listen_in_child(tmp_path: Path, variant: str) -> dict:
    pcm = _microphone_pcm()
    env = virtual_microphone(tmp_path, pcm)
    seconds = len(pcm) / 2 / 16000 + 1.0
    result = subprocess.run(
        [sys.executable, "-c", LISTEN_AND_REPORT, variant, f"{seconds:.1f}",
         str(tmp_path / "toy")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def buffers_wiped(report: dict) -> bool:
    """Every utterance the microphone gave was heard, then emptied and zeroed."""
    return (all(n > 16000 for n in report["heard_bytes"])
            and not any(report["left_bytes"]) and not any(report["left_nonzero"]))


@pytest.mark.slow("captures through a virtual microphone in a child that loads the recogniser")
@pytest.mark.parametrize(("variant", "wiped"), [("pipeline", True), ("bypass", False)])
def test_the_microphone_buffer_is_wiped_once_heard(tmp_path: Path, variant: str,
                                                    wiped: bool) -> None:
    report = _listen_in_child(tmp_path, variant)
    assert report["intents"] == ["greet", "share_name"], report
    assert len(report["heard_bytes"]) == 2, report
    assert buffers_wiped(report) is wiped, report
