"""The real `teddy device hear` command, run as a child would trigger it."""

from __future__ import annotations

import json
import subprocess
import sys

from speech_helpers import DEMO, ROOT

from device.asr.moonshine_download import moonshine_model_dir


def run_hear(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "teddy", "device", "hear", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )


def test_hello_teddy_clip_is_heard_as_greet() -> None:
    result = run_hear(str(DEMO / "hello_teddy.wav"), "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["intent"] == "greet" and row["slots"] == {}
    # auto: Moonshine when `teddy models download en-moonshine` installed it.
    expected_engine = "moonshine" if moonshine_model_dir() else "pocketsphinx"
    assert row["engine"] == expected_engine and row["text"] == "hello teddy"
    assert row["asr_ms"] > 0 and row["file"].endswith("hello_teddy.wav")


def test_several_files_give_one_json_line_each() -> None:
    files = [str(DEMO / name) for name in ("story_dinosaurs.wav", "my_name_is_emma.wav")]
    result = run_hear(*files, "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["intent"], r["slots"]) for r in rows] == [
        ("tell_story", {"topic": "dinosaurs"}),
        ("share_name", {"child_name": "emma"}),
    ]


def test_text_file_gives_clear_error_exit_2_and_other_files_still_heard(tmp_path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not audio at all")
    result = run_hear(str(text_file), str(DEMO / "joke.wav"), "--json")
    assert result.returncode == 2
    assert "notes.txt" in result.stderr and "not a WAV file" in result.stderr
    assert json.loads(result.stdout)["intent"] == "tell_joke"


def test_missing_file_gives_clear_error_and_exit_2(tmp_path) -> None:
    result = run_hear(str(tmp_path / "nothing.wav"))
    assert result.returncode == 2
    assert "nothing.wav: no such file" in result.stderr


def test_stereo_44k_wav_is_downmixed_and_resampled(tmp_path) -> None:
    stereo = tmp_path / "stereo.wav"
    subprocess.run(["sox", str(DEMO / "goodbye.wav"), "-r", "44100", "-c", "2", str(stereo)],
                   check=True)
    result = run_hear(str(stereo), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["intent"] == "goodbye"


def test_unknown_engine_is_rejected_by_the_parser() -> None:
    result = run_hear("--engine", "whisper", str(DEMO / "joke.wav"))
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_float_and_24_bit_multichannel_wavs_are_heard(tmp_path) -> None:
    float_stereo = tmp_path / "float.wav"
    deep_surround = tmp_path / "deep.wav"
    subprocess.run(["sox", str(DEMO / "goodbye.wav"), "-r", "44100", "-c", "2", "-b", "32",
                    "-e", "floating-point", str(float_stereo)], check=True)
    subprocess.run(["sox", str(DEMO / "goodbye.wav"), "-r", "48000", "-c", "6", "-b", "24",
                    str(deep_surround)], check=True)
    result = run_hear(str(float_stereo), str(deep_surround), "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["intent"] for line in result.stdout.splitlines()] == \
        ["goodbye", "goodbye"]


def test_a_long_or_cut_short_file_is_refused_with_exit_2(tmp_path) -> None:
    long_clip = tmp_path / "long.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-b", "8", str(long_clip), "synth", "400",
                    "sine", "300"], check=True)
    cut = tmp_path / "cut.wav"
    cut.write_bytes((DEMO / "joke.wav").read_bytes()[:5000])
    result = run_hear(str(long_clip), str(cut))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert "long.wav: the clip lasts 6.7 min; the toy hears at most 5 min" in lines[0]
    assert "cut.wav: the audio data is cut short" in lines[1]
