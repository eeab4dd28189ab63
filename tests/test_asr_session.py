"""Per-speaker adaptation in PocketSphinx: a warp and a cepstral mean kept for the session."""

from __future__ import annotations

import pytest
from speech_helpers import FIXTURES

from device.asr.pocketsphinx_engine import CMN_INIT, SESSION_UTTERANCES, PocketSphinxEngine
from device.audio.wav import load_wav_pcm16

LISTENER = FIXTURES / "clips" / "listener"
# Tune-split clips only: the held-out split is never used for a choice or a test.
CHILD_6_8 = ["en_tune_0062_6-8_dry.wav", "en_tune_0066_6-8_dry.wav"]  # en-gb as a 6-8 year old
ADULT = ["en_tune_0000_adult_dry.wav", "en_tune_0004_adult_dry.wav"]  # en-us


# Warps are estimated against the stock model here: the shipped adaptation was
# made partly from these very child-like tune clips, so it needs less warping.
@pytest.fixture(scope="module")
def engine() -> PocketSphinxEngine:
    return PocketSphinxEngine(vtln="session", session_cmn=False, adaptation="off")


def _session_warp(engine: PocketSphinxEngine, clips: list[str]) -> float:
    engine.new_session()
    for name in clips:
        engine.transcribe(load_wav_pcm16(LISTENER / name))
    return engine.warp


def test_a_child_like_voice_gets_a_warp_and_an_adult_keeps_none(engine) -> None:
    assert _session_warp(engine, CHILD_6_8) >= 1.2
    assert engine.warp_settled
    assert _session_warp(engine, ADULT) == 1.0


def test_without_vtln_a_child_like_voice_is_not_warped() -> None:
    # Negative control for the test above: estimation off leaves the warp at 1.0.
    fixed = PocketSphinxEngine(vtln="off", session_cmn=False, adaptation="off")
    assert _session_warp(fixed, CHILD_6_8) == 1.0


def test_once_settled_each_utterance_decodes_once(engine, monkeypatch) -> None:
    _session_warp(engine, CHILD_6_8[:SESSION_UTTERANCES])
    calls: list[float] = []
    original = engine._decode_batch
    monkeypatch.setattr(engine, "_decode_batch",
                        lambda raw, warp: calls.append(warp) or original(raw, warp))
    engine.transcribe(load_wav_pcm16(LISTENER / CHILD_6_8[0]))
    assert calls == []
    engine.new_session()  # a new child: the estimate starts again, with extra decodes
    assert engine.warp == 1.0 and not engine.warp_settled
    engine.transcribe(load_wav_pcm16(LISTENER / CHILD_6_8[0]))
    assert len(calls) >= 4


def test_per_utterance_estimation_keeps_nothing_between_utterances() -> None:
    each = PocketSphinxEngine(vtln="utterance", session_cmn=False, adaptation="off")
    _session_warp(each, CHILD_6_8)
    assert each.warp == 1.0 and not each.warp_settled


def test_cepstral_mean_is_carried_through_the_session_only() -> None:
    carried = PocketSphinxEngine(vtln="off", session_cmn=True)
    carried.transcribe(load_wav_pcm16(LISTENER / "en_tune_0010_adult_room.wav"))
    assert carried._cmn != CMN_INIT
    carried.new_session()
    assert carried._cmn == CMN_INIT
    # Negative control: with the carry off every utterance starts from CMN_INIT.
    fresh = PocketSphinxEngine(vtln="off", session_cmn=False)
    fresh.transcribe(load_wav_pcm16(LISTENER / "en_tune_0010_adult_room.wav"))
    assert fresh._cmn == CMN_INIT


def test_unknown_vtln_mode_is_refused() -> None:
    from device.asr.engine import EngineError

    with pytest.raises(EngineError, match="vtln"):
        PocketSphinxEngine(vtln="sometimes")


# Tune-split out-of-domain clips (children, rooms, television) that the
# adult-only threshold of -9 let through as commands.
SLIPPED_THROUGH = ["en_tune_0123_4-5_room_noise.wav", "en_tune_0099_4-5_dry.wav",
                   "en_tune_0079_6-8_room.wav", "en_tune_0047_9-11_room.wav",
                   "en_tune_0059_9-11_room_noise.wav", "en_tune_0007_adult_dry.wav",
                   "en_tune_0068_6-8_dry.wav", "en_tune_0016_adult_room.wav"]


def test_out_of_domain_children_in_rooms_and_noise_are_rejected() -> None:
    toy = PocketSphinxEngine()
    heard = [toy.transcribe(load_wav_pcm16(LISTENER / name)).text for name in SLIPPED_THROUGH]
    assert sum(bool(text) for text in heard) <= 1, heard
    # Negative control: the threshold chosen on adult voices alone, with the
    # model it was chosen for, accepts most of them.
    loose = PocketSphinxEngine(reject_below=-9.0, adaptation="off")
    accepted = [loose.transcribe(load_wav_pcm16(LISTENER / name)).text for name in SLIPPED_THROUGH]
    # (5 of 8 with the templates before issue #24 widened them; 4 of 8 now.)
    assert sum(bool(text) for text in accepted) >= 4, accepted
