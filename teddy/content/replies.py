"""Compose a reply for an intent, personalised only from what a consented profile holds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Profile:
    """What the cloud may use to shape a reply: empty unless personalisation is consented."""

    name: str | None = None
    favorites: dict[str, str] = field(default_factory=dict)
    story_topics: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.name is None and not self.favorites and not self.story_topics


REPLY_LOCALES = ("en", "ko")


@cache
def content_catalogue(locale: str = "en") -> dict[str, Any]:
    """Every reply template by intent for `locale`, parsed once per process."""
    if locale not in REPLY_LOCALES:
        raise ValueError(f"no replies for locale {locale!r}; available: {REPLY_LOCALES}")
    name = "content.yaml" if locale == "en" else f"content.{locale}.yaml"
    text = resources.files("teddy.content").joinpath(name).read_text("utf-8")
    return yaml.safe_load(text)


# The slots that carry a choice from what Teddy offers (data map category request.content),
# and where each one's choices are listed: a story topic is one of the stories there is.
CHOICE_SLOTS = {"topic": ("tell_story", "topics"), "song": ("sing_song", "songs"),
                "game": ("play_game", "games"), "animal": ("animal_sound", "sounds")}


@cache
def offered_choices() -> dict[str, frozenset[str]]:
    """Slot -> every value Teddy offers for it (the same English values in every locale).

    Such a slot holds a catalogue choice, not the child's words: a value outside these is
    something the child said that no sentence of the toy's grammar offers (R06)."""
    return {slot: frozenset(content_catalogue("en")[intent][listing])
            for slot, (intent, listing) in CHOICE_SLOTS.items()}


def _pick(options: list[str], seed: str) -> str:
    # Deterministic choice: the same request gets the same reply, which keeps tests exact.
    index = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(options)
    return options[index]


def _template(intent: str, profile: Profile, seed: str, locale: str) -> str:
    spec = content_catalogue(locale)[intent]
    if profile.name and "personal" in spec:
        return _pick(spec["personal"], seed)
    return _pick(spec["generic"], seed)


def compose_reply(intent: str, slots: dict[str, Any], profile: Profile | None = None,
                  seed: str = "", locale: str = "en") -> str:
    """The reply in the child's language (`locale`)."""
    profile = profile or Profile()
    content = content_catalogue(locale)
    if intent not in content:
        intent = "unknown"
    values: dict[str, Any] = {"name": (profile.name or "").title(), **slots}
    if intent == "tell_story":
        spec = content["tell_story"]
        topic = slots.get("topic") or (profile.story_topics[-1] if profile.story_topics else None)
        values["opening"] = spec["topics"].get(topic, spec["any"])
        reply = _template(intent, profile, seed, locale).format(**values)
        animal = profile.favorites.get("animal")
        if animal:
            reply += spec["favourite"].format(favorite_animal=animal)
        return reply
    if intent == "sing_song":
        return content["sing_song"]["songs"].get(slots.get("song"), content["sing_song"]["any"])
    if intent == "play_game":
        return content["play_game"]["games"].get(slots.get("game"), content["play_game"]["any"])
    if intent == "animal_sound":
        animal = slots.get("animal", "cow")
        values["sound"] = content["animal_sound"]["sounds"].get(animal, "hello")
        values["animal"] = animal
    if intent == "share_favorite":
        values.setdefault("kind", "thing")
        values.setdefault("value", "that")
    return _template(intent, profile, seed, locale).format(**values)
