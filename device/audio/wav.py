"""Read WAV files as the 16 kHz mono signed 16-bit PCM the recognisers need.

Python's `wave` module reads integer PCM only, so the RIFF chunks are read here: 8/16/24/32-bit
integer and 32/64-bit float samples, any channel count (WAVE_FORMAT_EXTENSIBLE included).
The header is checked before any audio is read: a clip longer than MAX_CLIP_SECONDS is
refused, as is one whose data chunk is cut short. Samples are decoded a block at a time into
one float32 mono buffer and resampled a block at a time, so memory stays proportional to the
(bounded) clip length.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import BinaryIO

import numpy as np

SAMPLE_RATE = 16_000
# Children's requests last seconds; a few minutes is far more than any utterance and keeps
# the toy's memory bounded (about 60 MB of float32 audio at 48 kHz).
MAX_CLIP_SECONDS = 300
BLOCK_FRAMES = 1 << 16
FORMAT_PCM = 0x0001
FORMAT_FLOAT = 0x0003
FORMAT_EXTENSIBLE = 0xFFFE
INTEGER_WIDTHS = (1, 2, 3, 4)
FLOAT_WIDTHS = (4, 8)


class AudioInputError(ValueError):
    """The audio given to the toy cannot be used; the message names the file."""


@dataclass(frozen=True)
class WavLayout:
    encoding: str  # "int" or "float"
    channels: int
    rate: int
    width: int  # bytes per sample
    data_offset: int
    data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // (self.width * self.channels)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def load_wav_pcm16(path: str | Path, max_seconds: float = MAX_CLIP_SECONDS) -> bytes:
    """Return the clip at `path` as 16 kHz mono s16le bytes, or raise AudioInputError."""
    path = Path(path)
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if not path.is_file():
        raise AudioInputError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            layout = read_layout(handle, path)
            if layout.seconds > max_seconds:
                raise AudioInputError(
                    f"{path}: the clip lasts {layout.seconds / 60:.1f} min; the toy hears at "
                    f"most {max_seconds / 60:g} min at a time: cut it shorter (for example "
                    f"`sox {path.name} short.wav trim 0 60`)")
            if (layout.encoding, layout.width, layout.channels, layout.rate) == (
                    "int", 2, 1, SAMPLE_RATE):
                handle.seek(layout.data_offset)
                return handle.read(layout.frames * 2)
            mono = _read_mono(handle, layout)
    except OSError as error:
        raise AudioInputError(f"{path}: cannot be read ({error.strerror or error})") from error
    if layout.rate != SAMPLE_RATE:
        mono = resample(mono, layout.rate, SAMPLE_RATE)
    return np.clip(np.round(mono), -32768, 32767).astype("<i2").tobytes()


def read_layout(handle: BinaryIO, path: Path) -> WavLayout:
    """Walk the RIFF chunks up to the audio data; nothing of the audio itself is read."""
    size = path.stat().st_size
    riff = handle.read(12)
    if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        kind = "an RF64 (very large) WAV" if riff[:4] == b"RF64" else "not a WAV file"
        raise AudioInputError(f"{path}: {kind} (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    while True:
        header = handle.read(8)
        if len(header) < 8:
            what = "no audio data chunk" if fmt else "no format chunk"
            raise AudioInputError(f"{path}: not a WAV file ({what})")
        chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
        start = handle.tell()
        if chunk_id == b"fmt ":
            fmt = _parse_format(handle.read(chunk_size), path)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioInputError(f"{path}: not a WAV file (audio data before its format)")
            encoding, channels, rate, width = fmt
            available = size - start
            if chunk_size > available:
                raise AudioInputError(
                    f"{path}: the audio data is cut short: the header promises {chunk_size} "
                    f"bytes but the file holds {available} (an incomplete copy or an "
                    "interrupted recording?)")
            frame = width * channels
            return WavLayout(encoding, channels, rate, width, start,
                             chunk_size - chunk_size % frame)
        handle.seek(start + chunk_size + (chunk_size & 1))  # chunks are word-aligned


def _parse_format(chunk: bytes, path: Path) -> tuple[str, int, int, int]:
    if len(chunk) < 16:
        raise AudioInputError(f"{path}: not a WAV file (format chunk too short)")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", chunk[:16])
    if tag == FORMAT_EXTENSIBLE:
        if len(chunk) < 40:
            raise AudioInputError(f"{path}: not a WAV file (extensible format chunk too short)")
        tag = struct.unpack("<H", chunk[24:26])[0]  # the sub-format GUID starts with the tag
    if rate <= 0 or channels <= 0:
        raise AudioInputError(f"{path}: invalid WAV header (rate {rate}, channels {channels})")
    width = (bits + 7) // 8
    if tag == FORMAT_PCM and width in INTEGER_WIDTHS:
        return "int", channels, rate, width
    if tag == FORMAT_FLOAT and width in FLOAT_WIDTHS:
        return "float", channels, rate, width
    kind = f"{bits}-bit float" if tag == FORMAT_FLOAT else (
        f"{bits}-bit integer" if tag == FORMAT_PCM else f"compressed (format tag {tag:#06x})")
    raise AudioInputError(
        f"{path}: {kind} audio is not supported; the toy reads 8/16/24/32-bit integer or "
        f"32/64-bit float PCM (convert with `sox {path.name} -b 16 out.wav`)")


def _read_mono(handle: BinaryIO, layout: WavLayout) -> np.ndarray:
    """Decode a block at a time into one float32 buffer on the 16-bit scale."""
    mono = np.empty(layout.frames, dtype=np.float32)
    frame_bytes = layout.width * layout.channels
    handle.seek(layout.data_offset)
    done = 0
    while done < layout.frames:
        count = min(BLOCK_FRAMES, layout.frames - done)
        raw = handle.read(count * frame_bytes)
        if len(raw) < count * frame_bytes:  # the file shrank while being read
            raise AudioInputError(f"{handle.name}: the audio data is cut short")
        samples = _decode(raw, layout).reshape(count, layout.channels)
        mono[done:done + count] = samples.mean(axis=1)
        done += count
    return mono


def _decode(raw: bytes, layout: WavLayout) -> np.ndarray:
    """Samples as float32 on the signed 16-bit scale (full scale = 32768)."""
    if layout.encoding == "float":
        dtype = "<f4" if layout.width == 4 else "<f8"
        return np.nan_to_num(np.frombuffer(raw, dtype=dtype).astype(np.float32) * 32768.0)
    if layout.width == 1:  # 8-bit WAV samples are unsigned
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) * 256.0
    if layout.width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float32)
    if layout.width == 3:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float32) / 256.0
    return np.frombuffer(raw, dtype="<i4").astype(np.float32) / 65536.0


def resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain, one second at a time.

    Each block is resampled with an FFT together with 0.1 s of its neighbours on either side,
    and only its own part of the result is kept, so the seams do not show. Blocks are whole
    multiples of the rates' reduced ratio, so every block maps to an exact number of output
    samples. Memory is a few blocks whatever the clip's length or its sample count's prime
    factors (one FFT over a whole 5-minute clip peaked near 1 GB).
    """
    if len(signal) == 0:
        return signal
    common = gcd(rate_in, rate_out)
    up, down = rate_out // common, rate_in // common
    length_out = max(1, round(len(signal) * up / down))
    context = -(-rate_in // (10 * down)) * down  # >= 0.1 s, a whole number of ratio units
    block = -(-rate_in // down) * down  # >= 1 s
    out = np.empty(length_out, dtype=np.float64)
    for start in range(0, len(signal), block):
        segment = _zero_padded(signal, start - context, start + block + context)
        resampled = _fft_resample(segment, len(segment) * up // down)
        kept = resampled[context * up // down:(context + block) * up // down]
        at = start * up // down
        count = min(len(kept), length_out - at)
        out[at:at + count] = kept[:count]
    return out


def _zero_padded(signal: np.ndarray, start: int, stop: int) -> np.ndarray:
    segment = np.zeros(stop - start, dtype=np.float64)
    lo, hi = max(start, 0), min(stop, len(signal))
    if hi > lo:
        segment[lo - start:hi - start] = signal[lo:hi]
    return segment


def _fft_resample(segment: np.ndarray, length_out: int) -> np.ndarray:
    spectrum = np.fft.rfft(segment)
    bins_out = length_out // 2 + 1
    if bins_out <= len(spectrum):
        spectrum = spectrum[:bins_out]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins_out - len(spectrum), complex)])
    return np.fft.irfft(spectrum, n=length_out) * (length_out / len(segment))


def write_wav_pcm16(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write mono s16le PCM as a WAV (used by tests and the fixture generator)."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
