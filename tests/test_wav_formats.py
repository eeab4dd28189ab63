"""Reading WAVs as the toy's 16 kHz mono PCM (issue 15 item 17, issue 17's float WAV).

Real files written by sox: 8/16/24/32-bit integer, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE
multi-channel. A clip over the length limit or with its data cut short is refused before
any audio is loaded.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from speech_helpers import DEMO

from device.audio.wav import MAX_CLIP_SECONDS, AudioInputError, load_wav_pcm16, resample


def _sox(source: Path, target: Path, *options: str) -> Path:
    # -D: no dither, so every format holds the same samples and can be compared exactly.
    subprocess.run(["sox", "-D", str(source), *options, str(target)], check=True)
    return target


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32)


@pytest.mark.parametrize("options", [
    ("-b", "24"), ("-b", "32"), ("-b", "32", "-e", "floating-point"),
    ("-b", "64", "-e", "floating-point"), ("-b", "16", "-c", "4"),
    ("-b", "24", "-c", "6"), ("-b", "32", "-e", "floating-point", "-c", "2"),
])
def test_deeper_float_and_multichannel_wavs_decode_to_the_same_samples(tmp_path, options):
    reference = _samples(load_wav_pcm16(DEMO / "goodbye.wav"))
    other = _sox(DEMO / "goodbye.wav", tmp_path / "other.wav", *options)
    decoded = _samples(load_wav_pcm16(other))
    assert len(decoded) == len(reference)
    assert np.max(np.abs(decoded - reference)) <= 1


def test_eight_bit_wavs_are_read_on_the_sixteen_bit_scale(tmp_path):
    reference = _samples(load_wav_pcm16(DEMO / "goodbye.wav"))
    decoded = _samples(load_wav_pcm16(_sox(DEMO / "goodbye.wav", tmp_path / "u8.wav",
                                           "-b", "8")))
    assert np.max(np.abs(decoded - reference)) <= 256  # 8-bit quantisation, not a scale error


def test_a_resampled_tone_keeps_its_pitch_and_level(tmp_path):
    tone = tmp_path / "tone.wav"
    subprocess.run(["sox", "-D", "-n", "-r", "44100", "-c", "2", "-b", "24", str(tone),
                    "synth", "1.0007", "sine", "440", "vol", "0.5"], check=True)
    mono = _samples(load_wav_pcm16(tone)).astype(float)
    assert abs(len(mono) - round(1.0007 * 16000)) <= 1
    spectrum = np.abs(np.fft.rfft(mono[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over one second
    assert abs(np.sqrt(np.mean(mono[1000:15000] ** 2)) - 0.5 * 32768 / np.sqrt(2)) < 300


@pytest.mark.parametrize("length", [7919, 104729, 160001])
def test_resampling_any_length_gives_the_expected_length(length):
    signal = np.sin(np.arange(length) * 2 * np.pi * 300 / 44100)
    out = resample(signal, 44100, 16000)
    assert len(out) == round(length * 16000 / 44100)
    middle = out[len(out) // 4: 3 * len(out) // 4]
    assert abs(np.max(np.abs(middle)) - 1.0) < 0.02


def test_a_wav_whose_data_is_cut_short_is_refused(tmp_path):
    whole = (DEMO / "goodbye.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AudioInputError, match="cut short"):
        load_wav_pcm16(cut)


def test_a_clip_over_the_limit_is_refused_from_its_header(tmp_path):
    long_clip = tmp_path / "long.wav"
    seconds = MAX_CLIP_SECONDS + 60
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "8", str(long_clip),
                    "synth", str(seconds), "sine", "300"], check=True)
    with pytest.raises(AudioInputError, match="the toy hears at most 5 min"):
        load_wav_pcm16(long_clip)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:30], "not a WAV file"),
    (lambda b: b"RIFX" + b[4:], "not a WAV file"),
    (lambda b: b[:20] + struct.pack("<H", 0x0011) + b[22:], "compressed"),
    (lambda b: b[:20] + struct.pack("<H", 0x0003) + b[22:], "16-bit float"),
])
def test_damaged_or_unsupported_headers_say_what_is_wrong(tmp_path, damage, message):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(damage((DEMO / "goodbye.wav").read_bytes()))
    with pytest.raises(AudioInputError, match=message):
        load_wav_pcm16(bad)


def test_block_resampling_matches_one_fft_over_the_whole_clip():
    rng = np.random.default_rng(7)
    voice_band = np.convolve(rng.standard_normal(3 * 44100), np.ones(8) / 8, mode="same")
    voice_band[:2000] = voice_band[-2000:] = 0  # no wrap-around edge in the reference
    spectrum = np.fft.rfft(voice_band)
    length_out = round(len(voice_band) * 16000 / 44100)
    whole = np.fft.irfft(spectrum[: length_out // 2 + 1], n=length_out) * (
        length_out / len(voice_band))
    blocks = resample(voice_band, 44100, 16000)
    assert len(blocks) == len(whole)
    assert np.max(np.abs(blocks - whole)) < 0.01 * np.max(np.abs(whole))
