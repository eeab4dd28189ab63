"""Read WAV files as the 16 kHz mono signed 16-bit PCM the recognisers need."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000


class AudioInputError(ValueError):
    """The audio given to the toy cannot be used; the message names the file."""


CONVERT_HINT = "convert to 16-bit PCM with: sox IN.wav -b 16 -e signed-integer OUT.wav"


def load_wav_pcm16(path: str | Path) -> bytes:
    """Return the clip at `path` as 16 kHz mono s16le bytes.

    16-bit WAVs of any rate or channel count are downmixed and resampled;
    anything that is not a readable 16-bit PCM WAV raises AudioInputError.
    """
    path = Path(path)
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if not path.is_file():
        raise AudioInputError(f"{path}: not a file")
    try:
        with wave.open(str(path), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        detail = str(error) or "file too short"
        if detail == "unknown format: 3":  # WAVE_FORMAT_IEEE_FLOAT
            raise AudioInputError(f"{path}: floating-point samples are not supported; "
                                  f"{CONVERT_HINT}") from error
        raise AudioInputError(f"{path}: not a WAV file ({detail})") from error
    if width != 2:
        raise AudioInputError(
            f"{path}: {8 * width}-bit samples are not supported; {CONVERT_HINT}"
        )
    if rate <= 0 or channels <= 0:
        raise AudioInputError(f"{path}: invalid WAV header (rate {rate}, channels {channels})")
    samples = np.frombuffer(frames, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    if channels == 1 and rate == SAMPLE_RATE:
        return samples.astype("<i2").tobytes()
    mono = samples.astype(np.float64).mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = resample(mono, rate, SAMPLE_RATE)
    return np.clip(np.round(mono), -32768, 32767).astype("<i2").tobytes()


def resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain.

    Utterances are short, so one FFT over the whole clip is cheap and avoids
    the aliasing that plain interpolation gives when downsampling 44.1 kHz.
    """
    if len(signal) == 0:
        return signal
    length_out = max(1, round(len(signal) * rate_out / rate_in))
    spectrum = np.fft.rfft(signal)
    bins_out = length_out // 2 + 1
    if bins_out <= len(spectrum):
        spectrum = spectrum[:bins_out]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins_out - len(spectrum), complex)])
    return np.fft.irfft(spectrum, n=length_out) * (length_out / len(signal))


def write_wav_pcm16(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write mono s16le PCM as a WAV (used by tests and the fixture generator)."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
