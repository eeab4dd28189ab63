"""The speech-enhancement stage: audio chunks in, enhanced audio chunks out."""

from __future__ import annotations

import numpy as np
import pytest
from speech_helpers import DEMO

from audio_fixtures import acoustics
from device.audio.frontend import (
    MICROPHONE_SETTINGS,
    FrontEnd,
    FrontEndSettings,
    dereverberate,
)
from device.audio.wav import load_wav_pcm16
from device.speech import Understander


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def _run(frontend: FrontEnd, pcm: bytes, chunk: int) -> bytes:
    out = b"".join(frontend.process(pcm[i:i + chunk]) for i in range(0, len(pcm), chunk))
    return out + frontend.flush()


def test_auto_gain_lifts_a_child_far_from_the_toy() -> None:
    pcm = load_wav_pcm16(DEMO / "hello_teddy.wav")
    once = (_samples(pcm) * 0.1).astype("<i2")  # 20 dB quieter
    quiet = np.tile(once, 4).tobytes()  # the live microphone keeps running
    lifted = _samples(_run(FrontEnd(MICROPHONE_SETTINGS), quiet, 3202))
    assert len(lifted) == len(quiet) // 2
    peak = np.abs(once.astype(np.float64)).max()
    first, last = (np.abs(lifted[i * len(once):(i + 1) * len(once)]).max() / peak
                   for i in (0, 3))
    assert last > 3 and last > first  # the gain adapts over seconds
    # Negative control: with everything off the stage hands the audio through unchanged.
    assert _run(FrontEnd(FrontEndSettings()), quiet, 3202) == quiet


def test_noise_suppression_lowers_steady_noise() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.normal(0, 800, 16000 * 2)).astype("<i2").tobytes()
    suppressed = _run(FrontEnd(FrontEndSettings(noise_suppression=3)), noise, 1600)
    tail = slice(16000, None)  # after the noise estimate has settled
    assert np.std(_samples(suppressed)[tail]) < 0.5 * np.std(_samples(noise)[tail])


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="auto_gain_dbfs"):
        FrontEndSettings(auto_gain_dbfs=40)
    with pytest.raises(ValueError, match="noise_suppression"):
        FrontEndSettings(noise_suppression=-1)


def test_microphone_gain_does_not_harm_clean_speech() -> None:
    toy = Understander("pocketsphinx", "en", frontend=MICROPHONE_SETTINGS, vtln="off")
    for clip, intent in [("hello_teddy.wav", "greet"), ("joke.wav", "tell_joke"),
                         ("goodbye.wav", "goodbye")]:
        assert toy.hear(load_wav_pcm16(DEMO / clip)).intent == intent


def test_dereverberation_brings_room_speech_closer_to_the_direct_sound() -> None:
    rng = np.random.default_rng(3)
    impulse, _ = acoustics.room_impulses(acoustics.ROOMS[3], 2.0, rng)  # RT60 0.8 s
    dry = _samples(load_wav_pcm16(DEMO / "story_dinosaurs.wav")) / 32768
    wet = acoustics.reverberate(dry, impulse)[: len(dry)]
    direct = int(np.argmax(np.abs(impulse)))
    early = acoustics.reverberate(dry, impulse[: direct + 800])[: len(dry)]  # first 50 ms

    def closeness_db(x: np.ndarray) -> float:
        residual = early - np.dot(x, early) / np.dot(x, x) * x
        return float(10 * np.log10(np.sum(early**2) / np.sum(residual**2)))

    pcm = np.round(wet / np.abs(wet).max() * 16000).astype("<i2").tobytes()
    assert closeness_db(_samples(dereverberate(pcm))) > closeness_db(_samples(pcm)) + 0.2
