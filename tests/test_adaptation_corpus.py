"""The adaptation corpus: the toy's listeners in voices and rooms no split uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audio_fixtures import adapt, adaptation_corpus
from audio_fixtures.generate import HELDOUT_VOICES, TUNE_VOICES


def test_corpus_voices_and_rooms_belong_to_neither_split() -> None:
    rooms = [room.name for room in adaptation_corpus.adaptation_rooms()]
    assert adaptation_corpus.corpus_leaks(adaptation_corpus.ADAPT_VOICES, rooms) == []
    rt60s = [room.rt60 for room in adaptation_corpus.adaptation_rooms()]
    assert min(rt60s) == pytest.approx(0.2) and max(rt60s) == pytest.approx(0.8)


@pytest.mark.parametrize(("voice", "why"), [
    (TUNE_VOICES[0], "sounds exactly like"),
    (HELDOUT_VOICES[0], "sounds exactly like"),
    # espeak-ng ignores this variant: it is the tune voice en-gb under another name.
    ("en-gb+f1", "sounds exactly like the fixture voice en-gb"),
    ("en-us+f4", "held-out variant"),
    ("en-us+klatt3", "held-out variant"),
    ("en-029+m1", "held-out dialect"),
])
def test_a_voice_of_either_split_is_caught(voice: str, why: str) -> None:
    leaks = adaptation_corpus.corpus_leaks([voice], [])
    assert len(leaks) == 1 and why in leaks[0]


def test_a_fixture_room_is_caught() -> None:
    assert adaptation_corpus.corpus_leaks([], ["living-h", "adapt-0"]) == [
        "room living-h is a fixture room"]


def test_a_leaking_corpus_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(adaptation_corpus, "ADAPT_VOICES", ["en-us+m1", HELDOUT_VOICES[1]])
    with pytest.raises(adaptation_corpus.CorpusError, match="fixture voice"):
        adaptation_corpus.generate(tmp_path / "corpus", count=2)
    assert not (tmp_path / "corpus").exists()


def test_an_empty_corpus_is_refused_and_writes_nothing(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert adaptation_corpus.main([str(tmp_path / "corpus"), "--clips", "0"]) == 2
    assert "at least one clip" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists()


@pytest.mark.slow("synthesises the corpus twice")
def test_corpus_is_the_same_with_any_number_of_workers(tmp_path: Path) -> None:
    one = adaptation_corpus.generate(tmp_path / "one", count=6, workers=1, positions=1)
    two = adaptation_corpus.generate(tmp_path / "two", count=6, workers=2, positions=1)
    assert one.read_bytes() == two.read_bytes()
    rows = [json.loads(line) for line in one.read_text().splitlines()]
    assert len(rows) == 6 and {row["split"] for row in rows} == {"adapt"}
    assert {row["voice"] for row in rows} <= set(adaptation_corpus.ADAPT_VOICES)
    for row in rows:
        assert (tmp_path / "two" / row["file"]).read_bytes() == \
            (tmp_path / "one" / row["file"]).read_bytes()
    # adapt.py takes the corpus's command clips and checks each against its hash.
    corpus_rows = adapt.load_rows(one)
    assert adapt.select_clips(corpus_rows, {}) == corpus_rows
    assert adapt._corpus_record(one, corpus_rows)["clips"] == 6
    (tmp_path / "one" / rows[0]["file"]).write_bytes(b"RIFF")
    with pytest.raises(adapt.AdaptationError, match="not the clip its corpus manifest names"):
        adapt._corpus_record(one, corpus_rows)
