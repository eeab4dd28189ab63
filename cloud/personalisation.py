"""The child's profile: facts kept only under personalisation consent, and used only then."""

from __future__ import annotations

import sqlite_utils

from cloud.keys.fields import open_value, seal_value
from teddy.content import Profile
from teddy.contracts.data_map import data_map

STORY_TOPIC_KEY = "story_topic"


# A fact collected before a withdrawal of personalisation consent stays unusable even if the
# parent consents again later (R12): a new consent covers what is collected under it. A
# re-consent to a new notice (R11) replaces the old consent at the same instant, which is no
# withdrawal, so facts survive that.
_USABLE_FACTS = """
SELECT f.key, f.value FROM profile_facts f
WHERE f.child_id = ? AND f.expires_at > ? AND f.purpose = 'personalisation'
AND NOT EXISTS (
    SELECT 1 FROM consents w
    WHERE w.child_id = f.child_id AND w.purpose = 'personalisation'
    AND w.revoked_at IS NOT NULL AND w.revoked_at >= f.collected_at
    AND NOT EXISTS (
        SELECT 1 FROM consents r
        WHERE r.child_id = w.child_id AND r.purpose = w.purpose AND r.granted_at = w.revoked_at
    )
)
"""


def load_profile(db: sqlite_utils.Database, child_id: int, now: float) -> Profile:
    """What may shape a reply; call only while personalisation consent is active."""
    facts = {key: open_value(db, child_id, "profile_facts", "value", value)
             for key, value in db.execute(_USABLE_FACTS, [child_id, now]).fetchall()}
    if "child_name" not in facts:
        # A first name the parent typed in is theirs to show or withdraw on the dashboard.
        row = db.execute("SELECT first_name FROM children WHERE id = ?", [child_id]).fetchone()
        if row and row[0]:
            name = open_value(db, child_id, "children", "first_name", row[0])
            facts["child_name"] = str(name).lower()
    favorites = {k.removeprefix("favorite_"): v for k, v in facts.items()
                 if k.startswith("favorite_")}
    topics = tuple(v for k, v in facts.items() if k == STORY_TOPIC_KEY)
    return Profile(name=facts.get("child_name"), favorites=favorites, story_topics=topics)


def facts_from_message(intent: str, slots: dict[str, object]) -> list[tuple[str, str, str]]:
    """(category, key, value) facts worth remembering from one consented message."""
    slot_rules = data_map().slots
    facts: list[tuple[str, str, str]] = []
    if intent == "share_name" and "child_name" in slots:
        facts.append((slot_rules["child_name"].category, "child_name", str(slots["child_name"])))
    if intent == "share_age" and "age" in slots:
        facts.append((slot_rules["age"].category, "age", str(slots["age"])))
    if intent == "share_favorite" and {"kind", "value"} <= slots.keys():
        facts.append((slot_rules["value"].category, f"favorite_{slots['kind']}",
                      str(slots["value"])))
    if intent == "tell_story" and "topic" in slots:
        # A topic asked for is what the child requested, not a favourite thing.
        facts.append((slot_rules["topic"].category, STORY_TOPIC_KEY, str(slots["topic"])))
    return facts


def remember(db: sqlite_utils.Database, child_id: int, facts: list[tuple[str, str, str]],
             now: float) -> None:
    expires = now + data_map().purposes["personalisation"].retention_days * 86400
    for category, key, value in facts:
        db.execute(
            "INSERT INTO profile_facts (child_id, category, key, value, purpose, collected_at, "
            "expires_at) VALUES (?, ?, ?, ?, 'personalisation', ?, ?) "
            "ON CONFLICT (child_id, key) DO UPDATE SET value = excluded.value, "
            "collected_at = excluded.collected_at, expires_at = excluded.expires_at",
            [child_id, category, key,
             seal_value(db, child_id, "profile_facts", "value", value, now), now, expires],
        )
