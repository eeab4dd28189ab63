"""Speech enhancement before the recogniser: one stage, audio chunks in, audio chunks out.

Automatic gain and noise suppression come from webrtc-noise-gain (WebRTC's
audio processing, as in Home Assistant's voice pipeline); it works on 10 ms
frames, so the stage buffers whatever chunk size it is given and hands out
whole frames. Dereverberation (nara-wpe's WPE) needs the whole utterance and
is offered as a batch function for measurement only (docs/speech.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.audio.wav import SAMPLE_RATE

FRAME_BYTES = 2 * SAMPLE_RATE // 100  # 10 ms of s16le


@dataclass(frozen=True)
class FrontEndSettings:
    """``auto_gain_dbfs``: target level below full scale (0 = off, 1-31);
    ``noise_suppression``: 0 (off) to 4 (strongest)."""

    auto_gain_dbfs: int = 0
    noise_suppression: int = 0

    @property
    def active(self) -> bool:
        return bool(self.auto_gain_dbfs or self.noise_suppression)

    def __post_init__(self) -> None:
        if not 0 <= self.auto_gain_dbfs <= 31:
            raise ValueError("auto_gain_dbfs must be 0 (off) to 31")
        if not 0 <= self.noise_suppression <= 4:
            raise ValueError("noise_suppression must be 0 (off) to 4")


# The recogniser's setting: everything off, as measured on the tune split
# (docs/speech.md: the suppression and gain variants did not lift it).
RECOGNISER_SETTINGS = FrontEndSettings()
# The live microphone's setting: a child across the room is quiet; gain brings
# speech up to about -3 dBFS RMS target before the endpointer and recogniser.
MICROPHONE_SETTINGS = FrontEndSettings(auto_gain_dbfs=3)


class FrontEnd:
    """Streaming enhancement: ``process(chunk)`` -> enhanced audio ready so far."""

    def __init__(self, settings: FrontEndSettings) -> None:
        self.settings = settings
        self._pending = bytearray()
        self._processor = None
        if settings.active:
            from webrtc_noise_gain import AudioProcessor

            self._processor = AudioProcessor(settings.auto_gain_dbfs, settings.noise_suppression)

    def reset(self) -> None:
        """Forget buffered audio (a new utterance); the gain keeps adapting."""
        self._pending.clear()

    def process(self, chunk: bytes) -> bytes:
        if self._processor is None:
            return chunk
        self._pending.extend(chunk)
        whole = len(self._pending) - len(self._pending) % FRAME_BYTES
        out = bytearray()
        for offset in range(0, whole, FRAME_BYTES):
            frame = bytes(self._pending[offset:offset + FRAME_BYTES])
            out.extend(self._processor.Process10ms(frame).audio)
        del self._pending[:whole]
        return bytes(out)

    def flush(self) -> bytes:
        """The last partial frame, padded with silence to a whole frame and processed."""
        if self._processor is None or not self._pending:
            self._pending.clear()
            return b""
        size = len(self._pending)
        frame = bytes(self._pending) + b"\x00" * (FRAME_BYTES - size)
        self._pending.clear()
        return bytes(self._processor.Process10ms(frame).audio)[:size]


def dereverberate(pcm: bytes, taps: int = 10, delay: int = 3, iterations: int = 3) -> bytes:
    """Weighted prediction error dereverberation (nara-wpe) of a whole utterance."""
    from nara_wpe.utils import istft, stft
    from nara_wpe.wpe import wpe

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    if len(samples) < 1024:
        return pcm
    spectrum = stft(samples[None, :], size=512, shift=128)  # (1, T, F)
    enhanced = wpe(spectrum.transpose(2, 0, 1), taps=taps, delay=delay,
                   iterations=iterations, statistics_mode="full")
    out = istft(enhanced.transpose(1, 2, 0), size=512, shift=128)[0][: len(samples)]
    return np.clip(np.round(out * 32768.0), -32768, 32767).astype("<i2").tobytes()
