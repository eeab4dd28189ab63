"""Microphone capture with sounddevice: 16 kHz mono int16, in memory only.

Audio never touches the disk: chunks go from the PortAudio callback through
a queue to the endpointer and the recogniser, and are dropped after use.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from device.audio.endpointing import FRAME_SAMPLES
from device.audio.wav import SAMPLE_RATE, AudioInputError


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default: bool

    def describe(self) -> str:
        mark = " (default)" if self.default else ""
        return f"{self.index}: {self.name}{mark}"


def input_devices() -> list[InputDevice]:
    """Every capture device PortAudio sees (ALSA hardware, PulseAudio, .asoundrc PCMs)."""
    import sounddevice

    default = sounddevice.default.device[0]
    return [InputDevice(index, str(info["name"]), int(info["max_input_channels"]),
                        index == default)
            for index, info in enumerate(sounddevice.query_devices())
            if info["max_input_channels"] > 0]


def list_input_devices() -> list[str]:
    return [device.name for device in input_devices()]


def describe_input_devices(devices: list[InputDevice] | None = None) -> str:
    devices = input_devices() if devices is None else devices
    if not devices:
        return ("no input devices found: plug in a microphone (`arecord -l` lists what ALSA "
                "sees) or define a capture PCM in ~/.asoundrc")
    return "input devices: " + "; ".join(device.describe() for device in devices)


def resolve_input_device(device: str | int | None) -> int | str:
    """The device to open, or AudioInputError listing the ones there are.

    A number is an index from `teddy device listen --list-devices`; text matches a device name
    (PortAudio accepts any unique part of it).
    """
    devices = input_devices()
    if device is None or device == "":
        default = next((d for d in devices if d.default), None)
        if default is None:
            raise AudioInputError("no default microphone; choose one with --device. "
                                  + describe_input_devices(devices))
        return default.index
    text = str(device).strip()
    if text.isdigit():
        if any(d.index == int(text) for d in devices):
            return int(text)
    else:
        matches = [d for d in devices if text.lower() in d.name.lower()]
        if len(matches) == 1 or any(d.name == text for d in matches):
            return text
        if len(matches) > 1:
            raise AudioInputError(f"input device {text!r} is ambiguous; use its number. "
                                  + describe_input_devices(matches))
    raise AudioInputError(f"no input device {text!r}. " + describe_input_devices(devices))


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

