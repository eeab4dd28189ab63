"""The templates are the one source of truth: they parse, expand and agree."""

from __future__ import annotations

import pytest
import yaml

from device.asr.grammar import build_jsgf, build_vosk_grammar, build_word_graph
from device.nlu.sampler import sample_sentences
from device.nlu.templates import (
    TemplateError,
    expand_templates,
    load_templates,
    parse_templates,
    vocabulary,
)

CATALOGUE = {
    "greet", "goodbye", "stop", "tell_story", "tell_joke", "sing_song", "play_game",
    "animal_sound", "share_favorite", "share_name", "share_age", "share_location",
}


def test_english_covers_the_whole_intent_catalogue() -> None:
    assert set(load_templates("en").intents) == CATALOGUE


def test_korean_covers_the_required_intents() -> None:
    assert {"greet", "goodbye", "tell_story", "sing_song"} <= set(load_templates("ko").intents)


def test_expansion_yields_optional_and_alternative_forms_with_slots() -> None:
    raw = yaml.safe_load("""
lists:
  topic: {values: [dragons, {in: "the (ocean|sea)", out: the ocean}]}
  age: {values: [{in: seven, out: 7}]}
intents:
  tell_story: ["tell me a story [about {topic}]"]
  share_age: ["i am {age}"]
""")
    expansions = expand_templates(parse_templates(raw, "xx"))
    triples = {(e.text, e.intent, tuple(e.slots.items())) for e in expansions}
    assert triples == {
        ("tell me a story", "tell_story", ()),
        ("tell me a story about dragons", "tell_story", (("topic", "dragons"),)),
        ("tell me a story about the ocean", "tell_story", (("topic", "the ocean"),)),
        ("tell me a story about the sea", "tell_story", (("topic", "the ocean"),)),
        ("i am seven", "share_age", (("age", 7),)),
    }


def test_expansion_is_deterministic() -> None:
    first = [(e.text, e.intent, e.slots) for e in expand_templates(load_templates("en"))]
    again = [(e.text, e.intent, e.slots) for e in expand_templates(load_templates("en"))]
    assert first == again


@pytest.mark.parametrize("source", ["tell me (a|b", "tell [me", "{topic", "a ) b", "x | ]"])
def test_malformed_template_is_a_clear_error(source: str) -> None:
    raw = {"lists": {"topic": {"values": ["x"]}}, "intents": {"i": [source]}}
    with pytest.raises(TemplateError, match="template"):
        parse_templates(raw, "xx")


def test_unknown_slot_list_is_rejected() -> None:
    with pytest.raises(TemplateError, match="unknown list"):
        parse_templates({"intents": {"i": ["hello {nobody}"]}}, "xx")


def test_missing_locale_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="no templates for locale 'zz'"):
        load_templates("zz")


def test_slot_values_follow_the_public_contract() -> None:
    for expansion in expand_templates(load_templates("en")):
        for name, value in expansion.slots.items():
            if name in ("age", "house_number"):
                assert isinstance(value, int)
            else:
                assert isinstance(value, str) and value == value.lower()
    names = {e.slots["child_name"] for e in expand_templates(load_templates("en"))
             if "child_name" in e.slots}
    assert len(names) >= 100
    ages = {e.slots["age"] for e in expand_templates(load_templates("en")) if "age" in e.slots}
    assert ages == set(range(3, 13))


def test_every_english_word_is_in_the_pocketsphinx_dictionary() -> None:
    import pocketsphinx

    path = f"{pocketsphinx.get_model_path()}/en-us/cmudict-en-us.dict"
    with open(path, encoding="utf-8") as handle:
        known = {line.split()[0] for line in handle if line.strip()}
    assert sorted(vocabulary(load_templates("en")) - known) == []


def test_grammars_are_built_from_the_templates() -> None:
    templates = load_templates("en")
    jsgf = build_jsgf(templates)
    assert jsgf.startswith("#JSGF V1.0;") and "public <utterance>" in jsgf
    assert "dinosaurs" in jsgf and "<list_child_name>" in jsgf
    phrases = set(__import__("json").loads(build_vosk_grammar(templates)))
    assert "tell me a story about dinosaurs" in phrases and "[unk]" in phrases


def _accepts(graph, words: list[str]) -> bool:
    states = {graph.start}
    for word in words:
        states = {to for frm, to, _, w in graph.arcs if frm in states and w == word}
    return any(frm in states and to == graph.final and w is None for frm, to, _, w in graph.arcs)


def test_word_graph_accepts_exactly_the_template_sentences() -> None:
    templates = load_templates("en")
    graph = build_word_graph(templates)
    for expansion in expand_templates(templates)[::37]:
        assert _accepts(graph, expansion.text.split()), expansion.text
    assert not _accepts(graph, ["tell", "me", "a", "story", "about"])
    assert not _accepts(graph, ["what", "is", "the", "capital", "of", "france"])


def test_sampler_is_deterministic_and_covers_every_intent() -> None:
    first = sample_sentences("en", 5, seed=3)
    assert [(s.text, s.slots) for s in first] == [
        (s.text, s.slots) for s in sample_sentences("en", 5, seed=3)
    ]
    assert {s.intent for s in first} == CATALOGUE
    topics = {s.slots.get("topic") for s in sample_sentences("en", 9, seed=0)
              if s.intent == "tell_story"}
    assert len(topics) == 9  # 8 topics + no topic: spread before repeating


def test_every_fixture_sentence_still_means_what_its_manifest_says() -> None:
    """Widening the templates must not move a recorded clip to another intent."""
    from speech_helpers import manifest_rows

    from device.nlu import load_parser

    rows = manifest_rows()
    assert any(row["intent"] == "unknown" for row in rows)
    for row in rows:
        parsed = load_parser(row.get("locale", "en")).parse(row["text"])
        assert (parsed.intent, parsed.slots) == (row["intent"], row["slots"]), row["text"]


@pytest.mark.parametrize("text, intent", [
    ("do you know any jokes", "tell_joke"),
    ("can you read me a story about dragons", "tell_story"),
    ("i want a song", "sing_song"),
    ("do you want to play hide and seek", "play_game"),
    ("what noise does a cow make", "animal_sound"),
    ("that's enough", "stop"),
    ("see you tomorrow", "goodbye"),
    ("how are you teddy", "greet"),
    ("blue is my favourite colour", "share_favorite"),
    ("my name's lily", "share_name"),
    ("i just turned six", "share_age"),
    ("i'm from paris", "share_location"),
])
def test_children_s_paraphrases_are_understood(text: str, intent: str) -> None:
    from device.nlu import load_parser

    assert load_parser("en").parse(text).intent == intent
