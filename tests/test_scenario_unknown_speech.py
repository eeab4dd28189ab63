"""Unknown speech shipped in an allowed slot (issue 25, "every rule on every path"): the wire
check's offered-choices rule, its negative controls, and the two real stories (24 and 74)."""

from __future__ import annotations

import json
import uuid

import pytest

from device.nlu.templates import expand_templates, load_templates
from device.seam import ToySeam
from scenarios.checks.egress import _slot_problems
from scenarios.runner import CATALOGUE, load_scenarios, run_scenario
from scenarios.violators.classes import class_of
from scenarios.violators.toy_unknown_as_topic import UnknownSpeechAsTopic, story_topic
from scenarios.wire import parse_requests
from teddy.content import CHOICE_SLOTS, offered_choices


def _intent_request(intent: str, slots: dict[str, object]) -> tuple[object, dict[str, object]]:
    body = {"message_id": uuid.uuid4().hex, "device_id": "toy-" + "a" * 32,
            "sent_at": 1_700_000_000, "locale": "en", "intent": intent, "slots": slots,
            "policy_version": 1}
    raw = json.dumps(body).encode()
    captured = (b"POST /api/v1/intent HTTP/1.1\r\nHost: cloud\r\nContent-Type: application/json"
                b"\r\nContent-Length: " + str(len(raw)).encode() + b"\r\n\r\n" + raw)
    return parse_requests(captured)[0], body


@pytest.mark.parametrize("locale", ["en", "ko"])
def test_every_choice_the_toys_grammar_can_make_is_offered(locale: str) -> None:
    """The clean toy cannot trip the rule: each value its grammar puts in a choice slot is one
    Teddy's content offers (so the rule fails only on words the grammar never offered)."""
    offered = offered_choices()
    made: dict[str, set[object]] = {slot: set() for slot in CHOICE_SLOTS}
    for expansion in expand_templates(load_templates(locale)):
        for slot, value in expansion.slots.items():
            if slot in made:
                made[slot].add(value)
    assert all(made[slot] for slot in ("topic", "song")), made
    assert {slot: made[slot] - offered[slot] for slot in made} == {s: set() for s in made}


def test_an_offered_choice_passes_even_with_four_words() -> None:
    said = {"sing", "twinkle", "little", "star", "tell", "me", "a", "story", "about", "dragons"}
    for intent, slots in (("tell_story", {"topic": "dragons"}),
                          ("sing_song", {"song": "twinkle twinkle little star"})):
        request, body = _intent_request(intent, slots)
        assert _slot_problems(request, body, said) == [], slots


@pytest.mark.parametrize(("slots", "expected"), [
    ({"topic": "my grandma farm"}, "is no topic Teddy offers"),  # part of the sentence
    ({"topic": "my brother sam goes to maple"}, "speech shipped verbatim"),  # most of it
    ({"song": "baby shark"}, "is no song Teddy offers"),
    ({"animal": "unicorn"}, "is no animal Teddy offers"),
])
def test_negative_controls_the_childs_own_words_in_a_choice_slot_are_flagged(
        slots: dict[str, str], expected: str) -> None:
    # Every word was said: only the offered-choices rule can see a part of the sentence.
    said = {"tell", "me", "a", "story", "about", "my", "grandma's", "grandma", "farm",
            "brother", "sam", "goes", "to", "maple", "baby", "shark", "unicorn"}
    request, body = _intent_request("tell_story", slots)
    problems = _slot_problems(request, body, said)
    assert any(expected in p for p in problems), problems
    assert all("never said" not in p for p in problems), problems
    if "offers" in expected:
        assert any("(R06, R03)" in p and "/api/v1/intent" in p for p in problems)


def test_the_violator_names_a_topic_from_the_childs_words_through_the_declared_seam() -> None:
    assert story_topic("still real story about my grandma farm") == "my grandma farm"
    assert story_topic("my brother simple to michael streets too") == \
        "my brother simple to michael"
    assert story_topic("") == ""
    assert isinstance(UnknownSpeechAsTopic(), ToySeam)
    assert set(vars(UnknownSpeechAsTopic)) & ToySeam.declared_points() == {"recognise"}
    assert class_of("unknown_as_topic").name == "hidden-in-allowed-fields"


@pytest.mark.slow("two whole stories: a real toy hearing four clips, `teddy cloud serve` (~25 s)")
def test_unknown_speech_as_a_topic_is_caught_and_the_clean_toy_keeps_it_home() -> None:
    violator = run_scenario(load_scenarios(
        [CATALOGUE / "74_violator_unknown_speech_as_topic.yaml"])[0])
    assert violator.error is None, violator.error
    checks = {c.check_id: c for c in violator.checks}
    assert checks["schema-valid"].observed == "held"  # the schema alone does not see it
    caught = checks["only-offered-choices-on-wire"]
    assert caught.observed == "violated"
    # What left (the child's words), where (the intent request) and which rule.
    assert "'topic'='my grandma farm' sent to /api/v1/intent" in caught.evidence
    assert "(R06, R03)" in caught.evidence
    assert checks["nothing-sent-for-unknown-speech"].observed == "violated"
    assert checks["history-holds-nothing-of-it"].observed == "violated"

    clean = run_scenario(load_scenarios([CATALOGUE / "24_unknown_speech_stays_home.yaml"])[0])
    assert clean.error is None, clean.error
    assert all(c.observed == "held" for c in clean.checks), [
        (c.check_id, c.evidence) for c in clean.checks if c.observed != "held"]
    told = {c.check_id: c for c in clean.checks}["known-story-told-by-cloud"]
    assert "answered by cloud" in told.evidence
