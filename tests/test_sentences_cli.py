"""`teddy device sentences`: what the toy understands, from the templates."""

from __future__ import annotations

import json
import subprocess
import sys

from device.nlu.templates import expand_templates, load_templates


def _teddy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "teddy.cli", "device", "sentences", *args],
                          capture_output=True, text=True, timeout=60)


def test_lists_every_intent_with_its_templates():
    result = _teddy()
    assert result.returncode == 0
    for intent in load_templates("en").intents:
        assert f"\n{intent}:\n" in f"\n{result.stdout}"
    assert "do you know (a|any) [funny] jokes" in result.stdout
    assert "{topic}: " in result.stdout


def test_json_is_exactly_the_expanded_language():
    result = _teddy("--json", "--intent", "tell_joke")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [e.text for e in expand_templates(load_templates("en")) if e.intent == "tell_joke"]
    assert [row["text"] for row in rows] == expected
    assert {row["intent"] for row in rows} == {"tell_joke"}


def test_unknown_intent_is_a_one_line_error():
    result = _teddy("--intent", "fly_to_the_moon")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
