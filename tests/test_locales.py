"""Per-locale wake phrase, reply language and voice."""

from __future__ import annotations

import re

import pytest

from device.locales import PROFILES, locale_profile
from device.nlu import load_parser
from device.nlu.templates import load_templates
from teddy.content import compose_reply

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.mark.parametrize("locale", sorted(PROFILES))
def test_the_wake_phrase_is_a_sentence_the_locale_s_grammar_can_hear(locale):
    profile = locale_profile(locale)
    assert load_parser(locale).parse(profile.wake_phrase).intent == "greet"


def test_korean_wakes_on_the_korean_phrase_whatever_the_spacing():
    korean = locale_profile("ko")
    assert korean.is_wake("안녕 테디")
    assert korean.is_wake("안녕테디")
    assert not korean.is_wake("hey teddy")
    assert not korean.is_wake("")
    assert locale_profile("en").is_wake("hey teddy")
    assert not locale_profile("en").is_wake("안녕 테디")


@pytest.mark.parametrize("intent", load_templates("ko").intents)
def test_replies_to_korean_are_korean(intent):
    reply = compose_reply(intent, {}, locale="ko")
    assert HANGUL.search(reply), reply
    assert not HANGUL.search(compose_reply(intent, {}))


def test_unknown_locale_is_a_clear_error():
    with pytest.raises(ValueError, match="no locale profile"):
        locale_profile("fr")
    with pytest.raises(ValueError, match="no replies for locale"):
        compose_reply("greet", {}, locale="fr")
