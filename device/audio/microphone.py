"""Microphone capture with sounddevice: 16 kHz mono int16, in memory only.

Audio never touches the disk: chunks go from the PortAudio callback through
a queue to the endpointer and the recogniser, and are dropped after use.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from device.audio.endpointing import FRAME_SAMPLES, Endpointer
from device.audio.wav import SAMPLE_RATE, AudioInputError


def list_input_devices() -> list[str]:
    import sounddevice

    return [d["name"] for d in sounddevice.query_devices() if d["max_input_channels"] > 0]


def capture_chunks(
    device: str | int | None = None,
    max_samples: int | None = None,
    stop: threading.Event | None = None,
    blocksize: int = FRAME_SAMPLES,
) -> Iterator[bytes]:
    """Yield raw s16le chunks from the input device until stopped.

    Stops after `max_samples` samples (the last chunk is trimmed to it) or
    when `stop` is set.
    """
    import sounddevice

    chunks: queue.Queue[bytes] = queue.Queue()

    def on_audio(data: object, frames: int, time_info: object, status: object) -> None:
        chunks.put(bytes(data))  # type: ignore[arg-type]

    try:
        stream = sounddevice.RawInputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="int16", device=device,
            blocksize=blocksize, callback=on_audio,
        )
    except (sounddevice.PortAudioError, ValueError) as error:
        raise AudioInputError(f"cannot open input device {device!r}: {error}") from error
    taken = 0
    with stream:
        while stop is None or not stop.is_set():
            try:
                chunk = chunks.get(timeout=0.2)
            except queue.Empty:
                continue
            if max_samples is not None:
                chunk = chunk[: 2 * (max_samples - taken)]
            taken += len(chunk) // 2
            yield chunk
            if max_samples is not None and taken >= max_samples:
                return


def utterances(
    device: str | int | None = None,
    stop: threading.Event | None = None,
    endpointer: Endpointer | None = None,
    max_samples: int | None = None,
) -> Iterator[bytes]:
    """Utterances heard on the input device, split by the endpointer."""
    endpointer = endpointer or Endpointer()
    for chunk in capture_chunks(device, max_samples=max_samples, stop=stop):
        yield from endpointer.feed(chunk)
    last = endpointer.flush()
    if last is not None:
        yield last
