"""Energy-based end-of-utterance detection over streaming 16 kHz PCM.

The noise floor is tracked while nobody speaks, so the same settings work in
a quiet bedroom and next to a television: speech is energy well above that
floor, and an utterance ends after a stretch of frames back near it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from device.audio.wav import SAMPLE_RATE

FRAME_SAMPLES = 480  # 30 ms
FRAME_BYTES = FRAME_SAMPLES * 2


@dataclass
class EndpointSettings:
    speech_over_floor_db: float = 12.0
    min_speech_rms: float = 300.0
    start_frames: int = 3
    end_silence_ms: int = 600
    pre_roll_ms: int = 300
    max_utterance_ms: int = 10_000


def frame_rms(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


class Endpointer:
    """Feed PCM chunks; get whole utterances back as they end."""

    def __init__(self, settings: EndpointSettings | None = None) -> None:
        self.settings = settings or EndpointSettings()
        frame_ms = 1000 * FRAME_SAMPLES / SAMPLE_RATE
        self._end_frames = max(1, round(self.settings.end_silence_ms / frame_ms))
        self._max_frames = max(1, round(self.settings.max_utterance_ms / frame_ms))
        pre_roll_frames = max(1, round(self.settings.pre_roll_ms / frame_ms))
        self._pre_roll: deque[bytes] = deque(maxlen=pre_roll_frames)
        self._pending = b""
        self._noise_floor: float | None = None
        self._loud_run = 0
        self._quiet_run = 0
        self._utterance: list[bytes] | None = None

    @property
    def in_speech(self) -> bool:
        return self._utterance is not None

    def _threshold(self) -> float:
        floor = self._noise_floor if self._noise_floor is not None else 0.0
        over = floor * 10 ** (self.settings.speech_over_floor_db / 20)
        return max(self.settings.min_speech_rms, over)

    # Utterances come back as bytearrays, so whoever hears one can wipe it (R02).
    def feed(self, chunk: bytes) -> list[bytearray]:
        """Add audio; return the utterances that ended within it."""
        finished: list[bytearray] = []
        data = self._pending + chunk
        usable = len(data) - len(data) % FRAME_BYTES
        self._pending = data[usable:]
        for start in range(0, usable, FRAME_BYTES):
            done = self._frame(data[start : start + FRAME_BYTES])
            if done is not None:
                finished.append(done)
        return finished

    def flush(self) -> bytearray | None:
        """End of input: return the utterance in progress, if any."""
        if self._utterance is None:
            return None
        utterance = bytearray().join(self._utterance)
        self._utterance = None
        return utterance

    def _frame(self, frame: bytes) -> bytearray | None:
        rms = frame_rms(frame)
        loud = rms > self._threshold()
        if self._utterance is None:
            if not loud:
                # Only silence updates the floor, so speech cannot raise it.
                floor = self._noise_floor
                self._noise_floor = rms if floor is None else 0.95 * floor + 0.05 * rms
            self._loud_run = self._loud_run + 1 if loud else 0
            self._pre_roll.append(frame)
            if self._loud_run >= self.settings.start_frames:
                self._utterance = list(self._pre_roll)
                self._pre_roll.clear()
                self._quiet_run = 0
            return None
        self._utterance.append(frame)
        self._quiet_run = 0 if loud else self._quiet_run + 1
        if self._quiet_run >= self._end_frames or len(self._utterance) >= self._max_frames:
            utterance = bytearray().join(self._utterance)
            self._utterance = None
            self._loud_run = 0
            return utterance
        return None


def split_utterances(
    chunks: Iterable[bytes], endpointer: Endpointer | None = None
) -> Iterator[bytearray]:
    """Utterances found in a stream of PCM chunks."""
    endpointer = endpointer or Endpointer()
    for chunk in chunks:
        yield from endpointer.feed(chunk)
    last = endpointer.flush()
    if last is not None:
        yield last
