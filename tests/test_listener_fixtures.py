"""The listener fixtures model children in rooms, and their held-out split never leaks."""

from __future__ import annotations

import numpy as np
import parselmouth
import pytest
from speech_helpers import FIXTURES, manifest_rows

from audio_fixtures import acoustics
from device.speech_eval import heldout_leaks


def _listener(locale: str = "en") -> list[dict]:
    return [r for r in manifest_rows() if r.get("set") == "listener" and r["locale"] == locale]


def test_every_age_band_is_heard_dry_in_rooms_and_in_household_noise() -> None:
    rows = _listener()
    cells = {(r["split"], r["age_band"], r["condition"]) for r in rows}
    for split in ("tune", "heldout"):
        for band in ("adult", "9-11", "6-8", "4-5"):
            for condition in ("dry", "room", "room+noise"):
                assert (split, band, condition) in cells
    rooms = [r for r in rows if r["condition"] != "dry"]
    assert min(r["rt60"] for r in rooms) <= 0.25 and max(r["rt60"] for r in rooms) >= 0.75
    assert all(0.3 <= r["distance_m"] <= 3.0 for r in rooms)
    noisy = [r for r in rows if r["condition"] == "room+noise"]
    assert {r["noise"] for r in noisy} == {"tv", "music", "clatter"}
    assert {r["snr_db"] for r in noisy} == {0.0, 5.0, 10.0, 15.0, 20.0}
    assert any(r["intent"] == "unknown" and r["age_band"] == "4-5" and r["condition"] ==
               "room+noise" for r in rows), "out-of-domain speech is also child-like in noise"
    korean = _listener("ko")
    assert {r["age_band"] for r in korean} == {"6-8", "4-5"}


def test_heldout_clips_have_heldout_voices_and_rooms() -> None:
    rows = [r for r in manifest_rows() if r.get("set") == "listener"]
    assert heldout_leaks(rows) == []
    # Negative control: a held-out clip recorded in a tune room is caught...
    tune_room = next(r for r in rows if r["split"] == "tune" and "room" in r)
    leaked = next(r for r in rows if r["split"] == "heldout" and "room" in r)
    assert heldout_leaks([*rows, {**leaked, "room": tune_room["room"]}])
    # ...and so is one spoken by a tune voice.
    assert heldout_leaks([*rows, {**leaked, "voice": tune_room["voice"]}])


def _median_pitch(path) -> float:
    pitch = parselmouth.Sound(str(path)).to_pitch(pitch_floor=75, pitch_ceiling=600)
    voiced = pitch.selected_array["frequency"]
    return float(np.median(voiced[voiced > 0]))


@pytest.mark.parametrize(("band", "low", "high"), [("6-8", 220, 300), ("4-5", 255, 345)])
def test_child_like_clips_have_a_child_pitch(band: str, low: float, high: float) -> None:
    rows = [r for r in _listener() if r["condition"] == "dry"]
    child = next(r for r in rows if r["age_band"] == band)
    adult = next(r for r in rows if r["age_band"] == "adult" and r["voice"] == child["voice"])
    assert low <= _median_pitch(FIXTURES / child["file"]) <= high
    # Negative control: the same voice as an adult is not in the band.
    assert not low <= _median_pitch(FIXTURES / adult["file"]) <= high


def test_rooms_have_the_reverberation_they_claim() -> None:
    rng = np.random.default_rng(1)
    for room in (acoustics.ROOMS[0], acoustics.ROOMS[-1]):
        impulse, _ = acoustics.room_impulses(room, 1.5, rng)
        energy = np.cumsum(impulse[::-1] ** 2)[::-1]
        decay = 10 * np.log10(energy / energy[0] + 1e-12)
        t20 = (np.argmax(decay < -25) - np.argmax(decay < -5)) / acoustics.SAMPLE_RATE * 3
        assert abs(t20 - room.rt60) < 0.35 * room.rt60, (room.name, t20)


def test_noise_is_mixed_at_the_requested_snr() -> None:
    rng = np.random.default_rng(2)
    speech = np.sin(np.arange(16000) / 5.0) * 0.3
    for kind in ("music", "clatter"):
        noise = acoustics.household_noise(kind, 1.0, rng, FIXTURES)
        mixed = acoustics.mix_at_snr(speech, noise, 10.0)
        added = mixed - speech
        snr = 10 * np.log10(acoustics.active_power(speech) / np.mean(added**2))
        assert abs(snr - 10.0) < 0.1


def test_child_like_voice_is_reproducible(tmp_path) -> None:
    import subprocess

    wav = tmp_path / "adult.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "tell me a joke"], check=True)
    band = acoustics.AGE_BANDS[2]
    first = acoustics.childlike(wav, band, np.random.default_rng(5))
    again = acoustics.childlike(wav, band, np.random.default_rng(5))
    assert np.array_equal(first, again)
    # Negative control: another draw of the speaking rate gives another clip.
    assert not np.array_equal(first, acoustics.childlike(wav, band, np.random.default_rng(6)))
