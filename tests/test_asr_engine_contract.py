"""The chunk check every engine's accept() shares (device/asr/engine.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.asr.engine import EngineError, check_chunk
from device.asr.pocketsphinx_engine import PocketSphinxEngine

ASR = Path(__file__).resolve().parents[1] / "device" / "asr"


def test_a_whole_sample_chunk_after_start_passes() -> None:
    check_chunk(b"\x00\x01" * 160, started=True)
    check_chunk(b"")  # an empty chunk is whole samples too


def test_an_odd_length_chunk_is_refused() -> None:
    with pytest.raises(EngineError, match="whole 16-bit samples"):
        check_chunk(b"\x00\x01\x02")


def test_a_chunk_before_start_is_refused() -> None:
    with pytest.raises(EngineError, match=r"accept\(\) called before start\(\)"):
        check_chunk(b"\x00\x01", started=False)


def test_an_engine_s_accept_goes_through_the_check() -> None:
    engine = PocketSphinxEngine()
    with pytest.raises(EngineError, match="before start"):
        engine.accept(b"\x00\x00")
    engine.start()
    with pytest.raises(EngineError, match="whole 16-bit samples"):
        engine.accept(b"\x00")
    engine.accept(b"\x00\x00" * 1600)  # negative control: a good chunk is taken


def test_the_check_is_written_once() -> None:
    # The duplication this replaced: each engine had its own copy.
    copies = [path.name for path in ASR.glob("*.py")
              if "PCM chunks must hold whole 16-bit samples" in path.read_text("utf-8")]
    assert copies == ["engine.py"]
