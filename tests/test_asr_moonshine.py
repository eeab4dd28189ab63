"""Moonshine base English, constrained to the templates, on real clips.

Needs the model that `teddy models download en-moonshine` installs (bootstrap
does); skipped only when it is absent.
"""

from __future__ import annotations

import math

import pytest
from speech_helpers import DEMO, FIXTURES, manifest_rows

from device.asr.moonshine_download import moonshine_model_dir
from device.asr.moonshine_engine import DEFAULT_REJECT_BELOW, MAX_EXTRA_WORDS, MoonshineEngine
from device.audio.wav import load_wav_pcm16
from device.nlu import load_parser
from device.nlu.matcher import normalise
from device.nlu.templates import expand_templates, load_templates

MODEL = moonshine_model_dir()
pytestmark = pytest.mark.skipif(
    MODEL is None, reason="Moonshine model not installed: run `teddy models download "
    "en-moonshine` (./bootstrap.sh does)")

DEMO_INTENTS = {
    "hello_teddy.wav": "greet",
    "story_dinosaurs.wav": "tell_story",
    "my_name_is_emma.wav": "share_name",
    "goodbye.wav": "goodbye",
}
# Out-of-domain clips (espeak-ng, legacy set) the toy must not act on.
OOD_FILES = ["clips/ood/en_ood_001.wav", "clips/ood/en_ood_004.wav"]


@pytest.fixture(scope="module")
def engine() -> MoonshineEngine:
    assert MODEL is not None
    return MoonshineEngine(MODEL, threads=1)


@pytest.mark.parametrize("name", sorted(DEMO_INTENTS))
def test_demo_clips_are_understood(engine, name):
    transcript = engine.transcribe(load_wav_pcm16(DEMO / name))
    assert load_parser("en").parse(transcript.text).intent == DEMO_INTENTS[name]
    assert transcript.engine == "moonshine"


def test_the_decode_spells_a_template_sentence_and_agrees_with_the_free_decode(engine):
    sentences = {e.text for e in expand_templates(load_templates("en"))}
    engine.transcribe(load_wav_pcm16(DEMO / "story_dinosaurs.wav"))
    decoded = engine.last
    assert decoded is not None and decoded.sentence in sentences
    # On a clear in-domain clip the free decode says the same words, so the
    # rejection margin is (about) zero: the trie lets the model keep its pieces.
    assert normalise(decoded.free_text) == decoded.sentence
    assert decoded.margin is not None and abs(decoded.margin) < 0.5


def test_streaming_gives_the_same_transcript_as_a_whole_clip(engine):
    pcm = load_wav_pcm16(DEMO / "joke.wav")
    whole = engine.transcribe(pcm)
    engine.start()
    for offset in range(0, len(pcm), 3200):
        engine.accept(pcm[offset:offset + 3200])
    assert engine.finish() == whole


@pytest.mark.parametrize("relative", OOD_FILES)
def test_out_of_domain_speech_is_rejected_and_would_not_be_without_rejection(
        engine, relative):
    pcm = load_wav_pcm16(FIXTURES / relative)
    rejected = engine.transcribe(pcm)
    assert rejected.text == ""
    # Negative control: the same clip with the rejection switched off is
    # forced onto some template sentence, so the check above can fail.
    engine.reject_below = -math.inf
    engine.model.give_up_below = -math.inf
    try:
        forced = engine.transcribe(pcm)
    finally:
        engine.reject_below = DEFAULT_REJECT_BELOW
        engine.model.give_up_below = DEFAULT_REJECT_BELOW - 6.0
    assert forced.text != ""
    assert load_parser("en").parse(forced.text).intent != "unknown"
    assert forced.confidence is not None and forced.confidence < DEFAULT_REJECT_BELOW


# Tune out-of-domain clips that a short template sentence swallowed: "bye" for
# "time will not tight, but carry it all" (margin +1.9, 7 extra words) and
# "that's enough" for a 12-word sentence (+1.7, 10 extra words).
SWALLOWED = ["clips/listener/en_tune_0109_4-5_room.wav",
             "clips/listener/en_tune_0121_4-5_room_noise.wav"]


@pytest.mark.parametrize("relative", SWALLOWED)
def test_a_short_sentence_does_not_swallow_a_long_utterance(engine, relative):
    pcm = load_wav_pcm16(FIXTURES / relative)
    assert engine.transcribe(pcm).text == ""
    decoded = engine.last
    assert decoded is not None and decoded.margin is not None
    assert decoded.margin >= DEFAULT_REJECT_BELOW  # the margin alone would accept it
    assert decoded.extra_words > MAX_EXTRA_WORDS
    # Negative control: without the word check the clip becomes an intent.
    engine.max_extra_words = math.inf
    try:
        forced = engine.transcribe(pcm)
    finally:
        engine.max_extra_words = MAX_EXTRA_WORDS
    assert load_parser("en").parse(forced.text).intent != "unknown"


def test_the_re_tuned_threshold_rejects_a_tune_clip_one_step_looser_would_accept(engine):
    # "i want to move my circle" -> "bye": margin -4.9, the false accept that
    # makes -5.0 break the rule (4 of 63) on the tune split.
    pcm = load_wav_pcm16(FIXTURES / "clips/listener/en_tune_0061_9-11_room_noise.wav")
    assert engine.transcribe(pcm).text == ""
    engine.reject_below = DEFAULT_REJECT_BELOW - 0.5  # negative control
    try:
        looser = engine.transcribe(pcm)
    finally:
        engine.reject_below = DEFAULT_REJECT_BELOW
    assert load_parser("en").parse(looser.text).intent != "unknown"


@pytest.mark.slow("decodes every flite adult clean clip (about 20 s)")
def test_flite_adult_clean_clips_meet_a_floor(engine):
    rows = [r for r in manifest_rows() if r.get("set") == "flite"
            and r["condition"] == "dry" and r["age_band"] == "adult"]
    parser = load_parser("en")
    right = 0
    for row in rows:
        heard = parser.parse(engine.transcribe(load_wav_pcm16(FIXTURES / row["file"])).text)
        right += heard.intent == row["intent"] and heard.slots == row["slots"]
    assert right / len(rows) >= 0.75


def test_the_korean_toy_s_guard_tells_english_speech_from_korean(engine):
    from device.asr.locale_guard import EnglishSpeechGuard

    class _Korean:
        name = "vosk"

    guard = EnglishSpeechGuard(_Korean(), engine)  # type: ignore[arg-type]
    assert guard.is_english(load_wav_pcm16(DEMO / "story_dinosaurs.wav"))
    korean = next(r for r in manifest_rows() if r["locale"] == "ko" and r["intent"] == "greet")
    assert not guard.is_english(load_wav_pcm16(FIXTURES / korean["file"]))


def test_the_guard_s_re_tuned_bar_flags_fluent_english_and_keeps_korean(engine):
    from device.asr.locale_guard import FLUENT_ENGLISH, EnglishSpeechGuard

    class _Korean:
        name = "vosk"

    # Tune clips next to the bar: English "i'm ryan" in white noise that the
    # Korean engine took for a Korean sentence (-0.78 per word), and a Korean
    # song request it got right (-0.85 per word).
    english = load_wav_pcm16(FIXTURES / "clips/noisy/en_0112_share_name_whitenoise.wav")
    korean = load_wav_pcm16(FIXTURES / "clips/ko/ko_014_sing_song.wav")
    guard = EnglishSpeechGuard(_Korean(), engine)  # type: ignore[arg-type]
    assert guard.is_english(english) and not guard.is_english(korean)
    # Negative controls: the earlier bar lets the English clip through, and a
    # looser one than the rule's flags the Korean command.
    assert not EnglishSpeechGuard(_Korean(), engine, -0.5).is_english(english)  # type: ignore[arg-type]
    assert EnglishSpeechGuard(_Korean(), engine, FLUENT_ENGLISH - 0.1).is_english(korean)  # type: ignore[arg-type]


def test_accept_goes_through_the_shared_chunk_check(engine):
    from device.asr.engine import EngineError

    engine._active = False
    with pytest.raises(EngineError, match="before start"):
        engine.accept(b"\x00\x00")
    engine.start()
    with pytest.raises(EngineError, match="whole 16-bit samples"):
        engine.accept(b"\x00")
    engine.accept(b"\x00\x00")  # negative control: a good chunk is taken
    engine.finish()


# The search shares work between rows: the first decoder step runs once for
# every row, the rows' cached keys and values are reordered as hypotheses move
# between rows, and the batch shrinks as rows close. These tests pin that none
# of this changes a score. Scores and verdicts recorded with the search before
# it shared any work (commit c7d18a4: every row of a full batch from the first
# step on): two accepted clips, one rejected on the margin, one on the word
# check (margin +6.6, the free decode 13 words longer).
BEFORE_SHARING = [
    ("clips/clean/en_0048_play_game.wav", "let's play a game",
     "let's play a game", -2.3974616772757145, -1.878824455794529),
    ("clips/noisy/en_0058_share_age_whitenoise.wav", "i am eleven years",
     "i am eleven years", -3.310351684689522, -4.958812236785889),
    ("clips/listener/en_heldout_0026_adult_room.wav", "",
     "goodbye", -8.645352900028229, -1.372985902824439),
    ("clips/listener/en_heldout_0122_9-11_room_noise.wav", "",
     "can we play", -14.405325412750244, -21.022542365826666),
]


def _audio(relative: str):
    import numpy as np

    from device.asr.moonshine_engine import MIN_SAMPLES, pcm_to_float

    audio = pcm_to_float(load_wav_pcm16(FIXTURES / relative))
    return np.pad(audio, (0, max(0, MIN_SAMPLES - audio.size)))


def _plain_logprob(model, audio, pieces: tuple[int, ...], ended: bool) -> float:
    """log P(pieces [+ EOS]) from one uncached decoder pass over the whole sequence."""
    import numpy as np

    from device.asr.moonshine_engine import BOS, EOS, HEAD_DIM, HEADS, LAYERS, _log_softmax

    hidden = model.encode(audio)
    targets = list(pieces) + ([EOS] if ended else [])
    inputs = np.array([[BOS] + targets[:-1]], dtype=np.int64)
    feeds = {"input_ids": inputs, "encoder_hidden_states": hidden,
             "use_cache_branch": np.array([False])}
    empty = np.zeros((1, HEADS, 0, HEAD_DIM), dtype=np.float32)
    for layer in range(LAYERS):
        for part in ("decoder", "encoder"):
            for kind in ("key", "value"):
                feeds[f"past_key_values.{layer}.{part}.{kind}"] = empty
    logits = model._decoder.run(None, feeds)[0][0, :, :len(model._pieces)]
    logprobs = _log_softmax(logits)
    return float(sum(logprobs[position, piece] for position, piece in enumerate(targets)))


def _largest_score_gap(engine, relatives: list[str]) -> float:
    gap = 0.0
    for relative in relatives:
        audio = _audio(relative)
        decoded = engine.model.decode(audio)
        assert decoded.sentence is not None and decoded.pieces
        plain = _plain_logprob(engine.model, audio, decoded.pieces, ended=True)
        plain_free = _plain_logprob(engine.model, audio, decoded.free_pieces,
                                    ended=decoded.free_ended)
        gap = max(gap, abs(plain - decoded.constrained_logprob),
                  abs(plain_free - decoded.free_logprob))
    return gap


@pytest.mark.slow("decodes four clips with the model (about 4 s)")
def test_the_shared_search_keeps_every_score_and_verdict_from_before(engine):
    for relative, text, sentence, constrained, free in BEFORE_SHARING:
        assert engine.transcribe(load_wav_pcm16(FIXTURES / relative)).text == text
        decoded = engine.last
        assert decoded is not None and decoded.sentence == sentence
        assert decoded.constrained_logprob == pytest.approx(constrained, abs=1e-4)
        assert decoded.free_logprob == pytest.approx(free, abs=1e-4)


@pytest.mark.slow("decodes and rescores four clips twice (about 8 s)")
def test_the_shared_cache_scores_equal_a_plain_uncached_pass(engine, monkeypatch):
    relatives = [row[0] for row in BEFORE_SHARING]
    assert _largest_score_gap(engine, relatives) < 1e-4
    # Negative control: reuse the cache wrongly (each row gets its
    # neighbour's keys and values) and the plain pass must disagree.
    step = engine.model._step

    def mixed_up_rows(ids, hidden, past):
        if past is not None and ids.shape[0] > 1:
            past = {name: np.roll(value, 1, axis=0) if ".decoder." in name else value
                    for name, value in past.items()}
        return step(ids, hidden, past)

    import numpy as np

    monkeypatch.setattr(engine.model, "_step", mixed_up_rows)
    assert _largest_score_gap(engine, relatives) > 1e-4
