"""R02: the audio buffer is wiped as soon as recognition returns and never touches the disk."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from device.audio.wav import load_wav_pcm16
from device.privacy.gate import EgressGate
from device.state import ToyState
from device.toy import Toy

CLIP = Path(__file__).resolve().parent.parent / "audio_fixtures" / "demo" / "hello_teddy.wav"


def test_the_clip_buffer_is_empty_after_the_toy_hears_it(tmp_path: Path):
    toy = Toy(EgressGate(ToyState(tmp_path / "toy")))
    pcm = bytearray(load_wav_pcm16(CLIP))
    assert len(pcm) > 16000
    turn = toy.hear(pcm)
    assert turn.intent == "greet"
    assert len(pcm) == 0


HEAR_THREE_TIMES = """
import sys
from device.audio.wav import load_wav_pcm16
from device.privacy.gate import EgressGate
from device.state import ToyState
from device.toy import Toy
toy = Toy(EgressGate(ToyState(sys.argv[2])))
for _ in range(3):
    print(toy.hear(bytearray(load_wav_pcm16(sys.argv[1]))).intent)
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_hearing_opens_no_file_for_writing(tmp_path: Path):
    """Every open(2) of the whole process tree is traced: none may create or write a file."""
    trace = tmp_path / "trace.log"
    result = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=open,openat,creat,rename,renameat2", "-o",
         str(trace), sys.executable, "-c", HEAR_THREE_TIMES, str(CLIP), str(tmp_path / "toy")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["greet", "greet", "greet"]
    writes = [line for line in trace.read_text().splitlines()
              if re.search(r"O_WRONLY|O_RDWR|O_CREAT|creat\(|rename", line)
              and "/dev/" not in line]
    assert writes == []
