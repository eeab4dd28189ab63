"""Find anything that looks like audio in captured bytes (R01): containers, types, blobs."""

from __future__ import annotations

import re

# Container magic numbers and media types a voice recording would travel in.
_SIGNATURES = {
    "RIFF/WAVE header": re.compile(rb"RIFF....WAVE", re.DOTALL),
    "Ogg page": re.compile(rb"OggS\x00"),
    "Opus header": re.compile(rb"OpusHead"),
    "FLAC stream": re.compile(rb"fLaC"),
    "MP3 ID3 tag": re.compile(rb"ID3[\x02-\x04]\x00"),
    "audio content type": re.compile(rb"audio/[a-z0-9.+-]+", re.IGNORECASE),
    "long base64 run": re.compile(rb"[A-Za-z0-9+/]{256,}={0,2}"),
}
_NON_TEXT = re.compile(rb"[^\x09\x0a\x0d\x20-\x7e]")
BINARY_BLOCK = 256
# Raw PCM puts roughly half its bytes outside printable ASCII; HTTP and JSON put almost none.
BINARY_SHARE = 0.25


def find_audio_signatures(data: bytes) -> list[str]:
    """Names of the audio signatures present in `data`; empty when none is."""
    found = [name for name, pattern in _SIGNATURES.items() if pattern.search(data)]
    if has_binary_block(data):
        found.append("binary block")
    return found


def has_binary_block(data: bytes) -> bool:
    for start in range(0, len(data), BINARY_BLOCK // 2):
        block = data[start:start + BINARY_BLOCK]
        if len(block) >= 64 and len(_NON_TEXT.findall(block)) > BINARY_SHARE * len(block):
            return True
    return False
