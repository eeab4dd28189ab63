"""Speak the toy's replies with espeak-ng, or write them to WAV files when there is no speaker."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def audio_output_available() -> bool:
    """True when ALSA lists a sound card to play to."""
    cards = Path("/proc/asound/cards")
    try:
        text = cards.read_text()
    except OSError:
        return False
    return bool(text.strip()) and "no soundcards" not in text


class Speaker:
    def __init__(self, out_dir: Path | None = None, voice: str = "en-us+f3") -> None:
        if shutil.which("espeak-ng") is None:
            raise RuntimeError("espeak-ng is not installed: run ./bootstrap.sh to install it")
        self.voice = voice
        self.out_dir = out_dir
        self.live = out_dir is None and audio_output_available()
        self._count = 0

    def say(self, text: str, label: str = "reply") -> Path | None:
        """Speak aloud, or return the WAV file the reply was written to."""
        if self.live:
            subprocess.run(["espeak-ng", "-v", self.voice, text], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return None
        if self.out_dir is None:
            raise RuntimeError("no audio output and no folder to write replies to")
        self._count += 1
        safe = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "reply"
        path = self.out_dir / f"{self._count:02d}_{safe}.wav"
        subprocess.run(["espeak-ng", "-v", self.voice, "-w", str(path), text], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return path
