"""What Teddy holds about a child, said the way a parent would say it.

The dashboard's first section turns the inventory (`cloud.child_data`) into statements such as
"Name: Emma", "Favourite animal: lion" or "Story topics asked for: dinosaurs", grouped by the
purpose they serve, each with why it is kept (the purpose's notice text from the data map),
since when, until when, and how to delete it. Categories come from the data map: a value the
child asked for is classed by its slot's rule (a story topic is "what was asked for"), a
remembered fact by the category stored with it. Technical records stay in their tables.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cloud.child_data import HeldRecord
from cloud.config import CloudConfig
from cloud.parent_web.family import country_name
from cloud.parent_web.notice_facts import kept_for
from cloud.retention.erasure import ERASABLE_ITEMS
from teddy.contracts.data_map import data_map

INTENT_PHRASES = {
    "greet": "said hello", "goodbye": "said goodbye", "tell_joke": "asked for a joke",
    "tell_story": "asked for a story", "sing_song": "asked for a song",
    "play_game": "asked to play a game", "animal_sound": "asked for an animal sound",
    "share_favorite": "told Teddy a favourite thing", "share_name": "told Teddy their name",
    "share_age": "told Teddy their age",
}
SLOT_LABELS = {
    ("tell_story", "topic"): "Story topics asked for", ("sing_song", "song"): "Songs asked for",
    ("play_game", "game"): "Games asked for",
    ("animal_sound", "animal"): "Animal sounds asked for",
    ("share_name", "child_name"): "Name told to Teddy", ("share_age", "age"): "Age told to Teddy",
}
CHILD_FIELDS = {"first_name": "Name", "age_band": "Age", "country": "Country"}
FACT_LABELS = {"child_name": "Name", "age": "Age", "story_topic": "Story topics asked for"}
# Remembered facts whose category follows from the slot they came from, whatever an older
# row stored (early versions filed story topics under favourite things).
FACT_SLOTS = {"child_name": "child_name", "age": "age", "story_topic": "topic"}
# Records that serve no single consented purpose get a group of their own: (group, title,
# table). Their reason is the data map's `kept_because`, the words the notice shows too.
RECORD_GROUP = ("record", "Your child's record", "children")
TOYS_GROUP = ("toys", "Paired toys", "devices")
TIMELINE_LENGTH = 10
# Record counts per kind, in the words of the "At a glance" list.
COUNT_LABELS = {
    "profile_facts": ("thing remembered", "things remembered"),
    "intent_events": ("request in the history", "requests in the history"),
    "devices": ("paired toy", "paired toys"), "consents": ("consent decision", "consent decisions"),
    "audit_log": ("accountability entry", "accountability entries"),
    "parent_outbox": ("message to you", "messages to you"),
}


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    category: str
    table: str
    row_id: str
    since: float | None
    until: float | None

    @property
    def deletable(self) -> bool:
        return self.table in ERASABLE_ITEMS


@dataclass(frozen=True)
class PurposeGroup:
    name: str
    title: str
    why: str
    retention_days: int
    facts: list[Fact]
    # For a group of one table's records (the child's record, paired toys): that table and
    # how long it is kept, in the notice's words.
    table: str | None = None
    kept: str | None = None


@dataclass(frozen=True)
class Moment:
    at: float
    words: str


def _field(record: HeldRecord, name: str) -> Any:
    return next((v.value for v in record.values if v.field == name), None)


def _slots(record: HeldRecord) -> dict[str, Any]:
    try:
        slots = json.loads(_field(record, "slots_json") or "{}")
    except ValueError:
        return {}
    return slots if isinstance(slots, dict) else {}


def _fact_label(key: str) -> str:
    if key in FACT_LABELS:
        return FACT_LABELS[key]
    if key.startswith("favorite_"):
        return "Favourite " + key.removeprefix("favorite_").replace("_", " ")
    return key.replace("_", " ").capitalize()


def facts_of(record: HeldRecord) -> list[tuple[str, Fact]]:
    """(purpose, fact) pairs for one record; none for technical records."""
    dmap = data_map()
    columns = dmap.tables[record.table]["columns"]
    out: list[tuple[str, Fact]] = []

    def fact(label: str, value: Any, category: str) -> Fact:
        return Fact(label, str(value), category, record.table, record.row_id,
                    record.collected_at, record.expires_at)

    if record.table == "children":
        for name, label in CHILD_FIELDS.items():
            value = _field(record, name)
            if value:
                shown = country_name(value) if name == "country" else value
                spec = columns[name]
                # What only runs the service is the child's record, not a purpose's data.
                purpose = spec["purpose"] if spec["purpose"] != "core" else RECORD_GROUP[0]
                out.append((purpose, fact(label, shown, spec["category"])))
    elif record.table == "profile_facts":
        held = {v.field: v for v in record.values}
        value, key = held["value"], str(held["key"].value)
        slot = dmap.slots.get(FACT_SLOTS.get(key, ""))
        out.append((value.purpose, fact(_fact_label(key), value.value,
                                        slot.category if slot else value.category)))
    elif record.table == "intent_events":
        intent = str(_field(record, "intent"))
        purpose = columns["intent"]["purpose"]
        slots = _slots(record)
        if not slots:
            out.append((purpose, fact("Asked for", INTENT_PHRASES.get(
                intent, intent.replace("_", " ")).removeprefix("asked for "),
                "request.content")))
        if {"kind", "value"} <= slots.keys():
            # "my favourite animal is the lion" is one thing: "Favourite animal: lion".
            kind = slots.pop("kind")
            out.append((purpose, fact(_fact_label(f"favorite_{kind}"), slots.pop("value"),
                                      dmap.slots["value"].category)))
        for slot, value in slots.items():
            rule = dmap.slots.get(slot)
            label = SLOT_LABELS.get((intent, slot), slot.replace("_", " ").capitalize())
            out.append((purpose, fact(label, value, rule.category if rule else
                                      columns["slots_json"]["category"])))
    elif record.table == "devices":
        out.append((TOYS_GROUP[0], fact("Paired toy", "a Teddy toy",
                                        columns["id"]["category"])))
    return out


def purpose_groups(records: list[HeldRecord], config: CloudConfig) -> list[PurposeGroup]:
    dmap = data_map()
    by_purpose: dict[str, list[Fact]] = {}
    for record in records:
        for purpose, fact in facts_of(record):
            by_purpose.setdefault(purpose, []).append(fact)
    by_purpose = {purpose: _merged(facts) for purpose, facts in by_purpose.items()}
    groups = [PurposeGroup(name, title, dmap.kept_because(table) or "", dmap.retention_days(table),
                           by_purpose[name], table, kept_for(table, dmap, config))
              for name, title, table in (RECORD_GROUP, TOYS_GROUP) if name in by_purpose]
    groups += [PurposeGroup(name, spec.title, spec.notice, spec.retention_days,
                            by_purpose[name])
               for name, spec in dmap.purposes.items() if name in by_purpose]
    return groups


def _merged(facts: list[Fact]) -> list[Fact]:
    """One line for "Name: Emma" and "Name: emma": the same thing said twice (the newest row
    is kept on the page; each row still has its own line under Technical details)."""
    seen: dict[tuple[str, str], Fact] = {}
    for fact in sorted(facts, key=lambda f: f.since or 0, reverse=True):
        seen.setdefault((fact.label, fact.value.casefold()), fact)
    return [f for f in facts if seen.get((f.label, f.value.casefold())) is f]


def timeline(records: list[HeldRecord]) -> list[Moment]:
    """The newest requests the toy made to the cloud, in words."""
    moments = []
    for record in records:
        if record.table != "intent_events" or record.collected_at is None:
            continue
        intent = str(_field(record, "intent"))
        words = INTENT_PHRASES.get(intent, intent.replace("_", " "))
        slots = _slots(record)
        if slots:
            words += " (" + ", ".join(str(v) for v in slots.values()) + ")"
        moments.append(Moment(record.collected_at, words))
    return sorted(moments, key=lambda m: m.at, reverse=True)[:TIMELINE_LENGTH]


def record_counts(records: list[HeldRecord]) -> list[tuple[str, int]]:
    """("paired toy", 1), ("requests in the history", 12): the label agrees with the count."""
    counted = Counter(r.table for r in records)
    return [(one if counted[table] == 1 else many, counted[table])
            for table, (one, many) in COUNT_LABELS.items() if counted[table]]
