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
               "TEDDY_REJECT_BELOW": "-2.5"}
    config = ToyConfig.from_environment(environ)
    assert config == ToyConfig(tmp_path / "toy", tmp_path / "m", tmp_path / "models",
                               "http://127.0.0.1:9/models", "off", -2.5)
    assert ToyConfig.from_environment({}) == ToyConfig()
    assert ToyConfig.from_environment({"TEDDY_TOY_DIR": ""}).toy_dir is None


def test_an_unparsable_threshold_names_the_variable():
    with pytest.raises(ToyConfigError, match="TEDDY_REJECT_BELOW='low' is not a number"):
        ToyConfig.from_environment({"TEDDY_REJECT_BELOW": "low"})


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
