"""Text to intent: exact sentences of the catalogue, everything else unknown."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.nlu import ParsedIntent, load_parser
from device.nlu.templates import expand_templates, load_templates


@pytest.mark.parametrize(
    ("text", "intent", "slots"),
    [
        ("hello teddy", "greet", {}),
        ("Hello, Teddy!", "greet", {}),
        ("tell me a story about dinosaurs", "tell_story", {"topic": "dinosaurs"}),
        ("tell me a story about the sea", "tell_story", {"topic": "the ocean"}),
        ("tell me a story", "tell_story", {}),
        ("my favorite animal is the lion", "share_favorite", {"kind": "animal", "value": "lion"}),
        ("my favourite colour is purple", "share_favorite", {"kind": "color", "value": "purple"}),
        ("my name is emma", "share_name", {"child_name": "emma"}),
        ("i am seven years old", "share_age", {"age": 7}),
        ("i live at twelve oak street", "share_location",
         {"house_number": 12, "street": "oak street"}),
        ("i live in london", "share_location", {"place": "london"}),
        ("let's play hide and go seek", "play_game", {"game": "hide and seek"}),
        ("what does a cow say", "animal_sound", {"animal": "cow"}),
        ("sing twinkle twinkle", "sing_song", {"song": "twinkle twinkle little star"}),
        ("be quiet teddy", "stop", {}),
        ("goodbye teddy", "goodbye", {}),
    ],
)
def test_catalogue_sentences_parse_to_intent_and_slots(text: str, intent: str, slots: dict) -> None:
    assert load_parser("en").parse(text) == ParsedIntent(intent, slots)


@pytest.mark.parametrize(
    "text",
    [
        "what is the capital of france",
        "turn on the kitchen lights",
        "tell me a story about",  # a truncated recognition is not a story request
        "tell me a story about cats",  # not a topic: never the nearest topic
        "my name is",
        "i am thirteen",
        "",
        "   ",
    ],
)
def test_anything_else_is_unknown_with_no_slots(text: str) -> None:
    assert load_parser("en").parse(text) == ParsedIntent("unknown", {})


def test_korean_spoken_forms_map_to_english_slot_values() -> None:
    parser = load_parser("ko")
    assert parser.parse("공룡 이야기 해줘") == ParsedIntent("tell_story", {"topic": "dinosaurs"})
    assert parser.parse("공룡 이야기해줘") == ParsedIntent("tell_story", {"topic": "dinosaurs"})
    assert parser.parse("안녕 테디") == ParsedIntent("greet", {})
    assert parser.parse("생일 축하 노래 불러 줘") == ParsedIntent(
        "sing_song", {"song": "happy birthday"})
    assert parser.parse("오늘 날씨 어때").intent == "unknown"


def test_every_expanded_sentence_parses_back_to_itself() -> None:
    parser = load_parser("en")
    for expansion in expand_templates(load_templates("en")):
        assert parser.parse(expansion.text) == ParsedIntent(expansion.intent, expansion.slots)


def test_parsed_slots_are_copies() -> None:
    parser = load_parser("en")
    parser.parse("my name is emma").slots["child_name"] = "mallory"
    assert parser.parse("my name is emma").slots == {"child_name": "emma"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz '", max_size=40))
def test_random_text_is_unknown_unless_it_is_a_template_sentence(text: str) -> None:
    parser = load_parser("en")
    sentences = {e.text for e in expand_templates(load_templates("en"))}
    parsed = parser.parse(text)
    if " ".join(text.split()) in sentences:
        assert parsed.intent != "unknown"
    else:
        assert parsed == ParsedIntent("unknown", {})
