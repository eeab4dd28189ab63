"""The toy's TEDDY_* variables: read in one place (device/config.py), parsed strictly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from device.config import VARIABLES, ToyConfig, ToyConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_every_variable_lands_in_its_field(tmp_path):
    environ = {"TEDDY_TOY_DIR": str(tmp_path / "toy"), "TEDDY_VOSK_MODEL": str(tmp_path / "m"),
               "TEDDY_MODELS_DIR": str(tmp_path / "models"),
               "TEDDY_MODELS_URL": "http://127.0.0.1:9/models", "TEDDY_ADAPTATION": "off",
               "TEDDY_REJECT_BELOW": "-2.5", "TEDDY_MOONSHINE_REJECT_BELOW": "-4.5",
               "TEDDY_ORT_THREADS": "2"}
    config = ToyConfig.from_environment(environ)
    assert config == ToyConfig(tmp_path / "toy", tmp_path / "m", tmp_path / "models",
                               "http://127.0.0.1:9/models", "off", -2.5, -4.5, 2)
    assert ToyConfig.from_environment({}) == ToyConfig()
    assert ToyConfig.from_environment({"TEDDY_TOY_DIR": ""}).toy_dir is None


def test_an_unparsable_threshold_names_the_variable():
    with pytest.raises(ToyConfigError, match="TEDDY_REJECT_BELOW='low' is not a number"):
        ToyConfig.from_environment({"TEDDY_REJECT_BELOW": "low"})


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("TEDDY_MOONSHINE_REJECT_BELOW", "low", "TEDDY_MOONSHINE_REJECT_BELOW='low' is not a number"),
    ("TEDDY_MOONSHINE_REJECT_BELOW", "nan", "TEDDY_MOONSHINE_REJECT_BELOW='nan' is not a number"),
    ("TEDDY_REJECT_BELOW", "-inf", "TEDDY_REJECT_BELOW='-inf' is not a number"),
    ("TEDDY_ORT_THREADS", "two", "TEDDY_ORT_THREADS='two' is not a whole number of threads"),
    ("TEDDY_ORT_THREADS", "0", "TEDDY_ORT_THREADS='0' is not a whole number of threads"),
    ("TEDDY_ORT_THREADS", "-1", "TEDDY_ORT_THREADS='-1' is not a whole number of threads"),
    ("TEDDY_ORT_THREADS", "1.5", "TEDDY_ORT_THREADS='1.5' is not a whole number of threads"),
])
def test_a_bad_moonshine_or_threshold_value_names_its_variable(variable, value, message):
    with pytest.raises(ToyConfigError, match=message.replace(".", r"\.")):
        ToyConfig.from_environment({variable: value})
    # Negative control: a good value of the same variable parses.
    good = "3" if variable == "TEDDY_ORT_THREADS" else "-4.5"
    assert ToyConfig.from_environment({variable: good}) != ToyConfig()


def test_moonshine_takes_its_threshold_and_threads_from_the_config(monkeypatch):
    from device.asr import moonshine_engine

    seen = {}

    class FakeModel:  # stands in for the ONNX sessions, which need the downloaded weights
        def __init__(self, model_dir, sentences, threads, give_up_below):
            seen.update(threads=threads, give_up_below=give_up_below)

    monkeypatch.setattr(moonshine_engine, "MoonshineModel", FakeModel)
    monkeypatch.setenv("TEDDY_MOONSHINE_REJECT_BELOW", "-4.5")
    monkeypatch.setenv("TEDDY_ORT_THREADS", "3")
    engine = moonshine_engine.MoonshineEngine(Path("unused"))
    assert engine.reject_below == -4.5 and seen["threads"] == 3
    assert moonshine_engine.MoonshineEngine(Path("unused"), threads=1) and seen["threads"] == 1
    monkeypatch.delenv("TEDDY_ORT_THREADS")
    monkeypatch.delenv("TEDDY_MOONSHINE_REJECT_BELOW")
    assert moonshine_engine.MoonshineEngine(Path("unused")).reject_below == (
        moonshine_engine.DEFAULT_REJECT_BELOW)
    monkeypatch.setenv("TEDDY_MOONSHINE_REJECT_BELOW", "low")
    with pytest.raises(ToyConfigError, match="TEDDY_MOONSHINE_REJECT_BELOW='low'"):
        moonshine_engine.MoonshineEngine(Path("unused"))


def test_the_command_line_reports_a_bad_variable_in_one_line_with_exit_2(monkeypatch, capsys):
    from teddy.cli import main

    clip = ROOT / "audio_fixtures" / "demo" / "hello_teddy.wav"
    monkeypatch.setenv("TEDDY_REJECT_BELOW", "low")
    assert main(["device", "hear", str(clip)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "teddy device: TEDDY_REJECT_BELOW='low' is not a number (a log-likelihood ratio such "
        "as -2)"]
    assert captured.out == ""
    monkeypatch.delenv("TEDDY_REJECT_BELOW")
    monkeypatch.setenv("TEDDY_ORT_THREADS", "two")
    assert main(["device", "hear", "--engine", "pocketsphinx", str(clip)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "teddy device: TEDDY_ORT_THREADS='two' is not a whole number of threads (1 or more)"]


def test_no_toy_module_reads_a_teddy_variable_itself():
    readers = []
    for path in sorted((ROOT / "device").rglob("*.py")):
        if path.name == "config.py" and path.parent.name == "device":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value in VARIABLES.values()):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert readers == [], "read it from device.config.toy_config()"
