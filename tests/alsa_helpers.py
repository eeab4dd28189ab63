"""A virtual microphone for tests: ALSA's `file` plugin plays a raw clip into a capture PCM.

sounddevice caches the device list at import, so a capture runs in a child process whose HOME
holds the .asoundrc; the PCM is called `teddyfile`.
"""

from __future__ import annotations

import os
from pathlib import Path

from speech_helpers import ROOT

ASOUNDRC = """
pcm.teddyfile {{
    type plug
    slave {{ pcm "teddyraw"; rate 16000; channels 1; format S16_LE }}
}}
pcm.teddyraw {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
"""


def virtual_microphone(tmp_path: Path, pcm: bytes) -> dict[str, str]:
    raw = tmp_path / "clip.raw"
    raw.write_bytes(pcm)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC.format(raw=raw))
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("ALSA_CONFIG_PATH", None)
    return env
