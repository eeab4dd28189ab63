"""Acoustic model adaptation: SphinxTrain on the wheel's en-us model, shipped with a manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from speech_helpers import FIXTURES, manifest_rows

from audio_fixtures import adapt
from device.asr import pocketsphinx_engine as ps
from device.asr.engine import EngineError
from device.asr.sphinx_files import (
    SphinxFileError,
    read_s3_array,
    read_sendump,
    write_s3_array,
)
from device.audio.wav import load_wav_pcm16
from device.nlu import load_parser

MODEL = Path(ps._model_paths()[0])
LISTENER = FIXTURES / "clips" / "listener"


def test_sendump_becomes_normalised_mixture_weights() -> None:
    weights = read_sendump(MODEL / "sendump")
    senones, streams, codewords = weights.shape
    assert (streams, codewords) == (3, 128) and senones > 5000
    assert np.allclose(weights.sum(axis=2), 1.0)
    # Real mixtures, not a uniform fill: each senone leans on a few codewords.
    assert float(np.median(weights.max(axis=2))) > 5 / codewords


def test_truncated_sendump_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sendump").write_bytes((MODEL / "sendump").read_bytes()[:-100])
    with pytest.raises(SphinxFileError, match="weight bytes"):
        read_sendump(tmp_path / "sendump")
    (tmp_path / "means").write_bytes((MODEL / "means").read_bytes())
    with pytest.raises(SphinxFileError, match="impossible length|not a sendump"):
        read_sendump(tmp_path / "means")


def test_parameter_file_round_trip(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 7
    write_s3_array(tmp_path / "w", array)
    assert np.array_equal(read_s3_array(tmp_path / "w", 3), array)
    with pytest.raises(SphinxFileError, match="do not fill"):
        read_s3_array(tmp_path / "w", 2)  # read with the wrong shape


def test_adaptation_reads_tune_clips_only() -> None:
    rows = [dict(r, path=str(FIXTURES / r["file"])) for r in manifest_rows()]
    chosen = adapt.select_clips(rows, {"set": {"listener"}})
    assert chosen and all(r["split"] == "tune" and r["intent"] != "unknown" for r in chosen)
    assert any(r["split"] == "heldout" and r.get("set") == "listener" for r in rows)
    with pytest.raises(adapt.AdaptationError, match="never held-out clips"):
        adapt.select_clips(rows, {"split": {"heldout"}})


def _shipped() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(ps.ADAPTATION_DIR.glob("*.json"))]


def test_shipped_adaptations_match_their_manifests_and_use_no_heldout_clip() -> None:
    records = _shipped()
    assert ps.DEFAULT_ADAPTATION in [r["name"] for r in records] + ["off"]
    heldout = {f"audio_fixtures/{r['file']}" for r in manifest_rows() if r["split"] == "heldout"}
    heldout_texts = {r["text"] for r in manifest_rows()
                     if r["split"] == "heldout" and r.get("set") == "listener"}
    for record in records:
        assert ps.adaptation_config(record["name"])  # hash checked on load
        files = {clip["file"] for clip in record["clips"]}
        assert files or record["corpora"]
        assert not files & heldout
        # The adaptation set's sentences come from another draw than the held-out ones.
        texts = {clip["text"] for clip in record["clips"]}
        assert len(texts & heldout_texts) <= len(texts) / 2
        # A corpus has voices and rooms of neither split (tests/test_adaptation_corpus.py).
        for corpus in record.get("corpora", []):
            assert corpus["generator"] == "audio_fixtures/adaptation_corpus.py"
            assert corpus["clips"] >= 1000


def _copy_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    record = _shipped()[0]
    for name in (f"{record['name']}.json", record["output"]):
        shutil.copy(ps.ADAPTATION_DIR / name, tmp_path / name)
    monkeypatch.setattr(ps, "ADAPTATION_DIR", tmp_path)
    return record


def test_a_changed_adaptation_file_is_refused(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    record = _copy_shipped(tmp_path, monkeypatch)
    assert ps.adaptation_config(record["name"])  # negative control: the copy loads
    data = bytearray((tmp_path / record["output"]).read_bytes())
    data[-1] ^= 1
    (tmp_path / record["output"]).write_bytes(bytes(data))
    with pytest.raises(EngineError, match="not the file its manifest names"):
        ps.adaptation_config(record["name"])


def test_an_adaptation_for_another_base_model_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = _copy_shipped(tmp_path, monkeypatch)
    manifest = tmp_path / f"{record['name']}.json"
    manifest.write_text(json.dumps(dict(record, model_means_sha256="0" * 64)))
    with pytest.raises(EngineError, match="another en-us model"):
        ps.adaptation_config(record["name"])


@pytest.mark.parametrize("name", ["nope", "../adaptation/x", ""])
def test_unknown_adaptation_is_refused(name: str) -> None:
    with pytest.raises(EngineError, match="no adaptation"):
        ps.PocketSphinxEngine(adaptation=name)
    assert ps.adaptation_config("off") == {}


# Tune-split children in tune rooms, voices and rooms the adaptation corpus
# never has (held-out figures are in docs/speech.md).
ROOM_CHILDREN = ["en_tune_0075_6-8_room.wav", "en_tune_0103_4-5_room.wav"]


@pytest.mark.parametrize("clip", ROOM_CHILDREN)
def test_adapted_model_hears_a_child_in_a_room_the_stock_model_misses(clip: str) -> None:
    row = next(r for r in manifest_rows() if r["file"] == f"clips/listener/{clip}")
    expected = (row["intent"], row["slots"])
    parser = load_parser("en")
    pcm = load_wav_pcm16(LISTENER / clip)
    adapted = parser.parse(_engine("corpus-map").transcribe(pcm).text)
    assert (adapted.intent, adapted.slots) == expected
    # Negative control: the unadapted model does not hear it.
    stock = parser.parse(_engine("off").transcribe(pcm).text)
    assert (stock.intent, stock.slots) != expected


_ENGINES: dict[str, ps.PocketSphinxEngine] = {}


def _engine(adaptation: str) -> ps.PocketSphinxEngine:
    if adaptation not in _ENGINES:
        _ENGINES[adaptation] = ps.PocketSphinxEngine(adaptation=adaptation)
    return _ENGINES[adaptation]


def test_adaptation_runs_end_to_end_and_is_reproducible(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A small MLLR run on six tune clips with the real SphinxTrain tools
    # (bootstrap.sh test installs them).
    where = {"set": {"listener"}, "age_band": {"6-8"}, "condition": {"dry"}}
    manifest = [FIXTURES / "manifest.jsonl"]
    record = adapt.build("small", where, manifest, out_dir=tmp_path / "a", method="mllr")
    again = adapt.build("small", where, manifest, out_dir=tmp_path / "b", method="mllr")
    assert len(record["clips"]) == 6
    assert record["output_sha256"] == again["output_sha256"]
    numbers = (tmp_path / "a" / "small.mllr").read_text().split()
    assert numbers[:2] == ["1", "3"] and len(numbers) > 3 * 13 * 14
    monkeypatch.setattr(ps, "ADAPTATION_DIR", tmp_path / "a")
    engine = ps.PocketSphinxEngine(adaptation="small")
    heard = engine.transcribe(load_wav_pcm16(FIXTURES / "demo" / "joke.wav"))
    assert heard.text == "tell me a joke"


def test_a_second_map_pass_starts_from_the_first(tmp_path: Path) -> None:
    where = {"set": {"listener"}, "age_band": {"6-8"}, "condition": {"dry"}}
    manifest = [FIXTURES / "manifest.jsonl"]
    one = adapt.build("one", where, manifest, out_dir=tmp_path, method="map")
    two = adapt.build("two", where, manifest, out_dir=tmp_path, method="map", passes=2)
    assert (one["passes"], two["passes"]) == (1, 2)
    # Had the second pass started from the stock means again, it would be the first.
    assert two["output_sha256"] != one["output_sha256"]
    with pytest.raises(adapt.AdaptationError, match="passes"):
        adapt.build("mllr2", where, manifest, out_dir=tmp_path, method="mllr", passes=2)
    with pytest.raises(adapt.AdaptationError, match="passes"):
        adapt.build("none", where, manifest, out_dir=tmp_path, method="map", passes=0)
    assert not any(tmp_path.glob("mllr2.*")) and not any(tmp_path.glob("none.*"))


def test_a_missing_clip_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({
        "file": "gone.wav", "text": "hello teddy", "intent": "greet", "slots": {},
        "locale": "en", "split": "tune", "condition": "clean"}) + "\n")
    out = tmp_path / "out"
    with pytest.raises(adapt.AdaptationError, match="gone.wav"):
        adapt.build("broken", {}, [manifest], out_dir=out, method="map")
    assert not any(out.glob("broken.*"))
    # Only held-out rows: nothing to adapt on, said as much.
    manifest.write_text(json.dumps({
        "file": "x.wav", "text": "hello teddy", "intent": "greet", "slots": {},
        "locale": "en", "split": "heldout", "condition": "clean"}) + "\n")
    with pytest.raises(adapt.AdaptationError, match="no tune-split command clips"):
        adapt.build("broken", {}, [manifest], out_dir=out, method="map")
