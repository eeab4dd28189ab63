"""Choosing the microphone: list the devices, and a wrong choice lists the ones there are.

The microphone is ALSA's `file` plugin behind a .asoundrc in a private HOME (see
test_microphone_alsa), so these run on machines without a sound card.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alsa_helpers import virtual_microphone


def _listen(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    home.mkdir()
    env = virtual_microphone(home, b"\x00\x00" * 16000)
    return subprocess.run([sys.executable, "-m", "teddy", "device", "listen", *args],
                          capture_output=True, text=True, env=env, timeout=90, check=False)


def test_list_devices_shows_each_input_with_its_number(tmp_path: Path) -> None:
    result = _listen(tmp_path, "--list-devices")
    assert result.returncode == 0, result.stderr
    assert any(line.split(": ", 1)[1].startswith("teddyfile")
               for line in result.stdout.splitlines()), result.stdout


def test_an_unknown_device_is_one_line_listing_the_devices_there_are(tmp_path: Path) -> None:
    result = _listen(tmp_path, "--device", "no-such-mic", "--max-seconds", "1")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no-such-mic" in line and "teddyfile" in line


def test_a_device_can_be_chosen_by_its_number(tmp_path: Path) -> None:
    listed = _listen(tmp_path, "--list-devices").stdout.splitlines()
    number = next(line.split(":")[0] for line in listed if ": teddyfile" in line)
    result = _listen(tmp_path, "--device", number, "--mode", "continuous", "--max-seconds", "1",
                     "--json")
    assert result.returncode == 0, result.stderr


def test_an_unpaired_toy_says_so_and_how_to_pair(tmp_path: Path) -> None:
    result = _listen(tmp_path, "--device", "teddyfile", "--mode", "continuous",
                     "--max-seconds", "1", "--state", str(tmp_path / "toy"))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any("not paired" in line and "teddy device pair" in line for line in lines)
