"""The data map against the real schema (R15): every stored column is declared, and back,
on an SQLite database and on a PostgreSQL one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlite_utils

from cloud.storage.db import is_postgres, open_db
from cloud.storage.migrations import portable_ddl
from cloud.storage.schema import live_columns
from teddy.contracts.data_map import DataMap, data_map
from teddy.contracts.intent_message import IntentMessage

# GDPR Art. 6(1) lawful bases, spelled as the data map spells them.
LEGAL_BASES = {"consent", "contract", "legal_obligation", "vital_interests", "public_task",
               "legitimate_interest"}


def declared_columns(dmap: DataMap) -> set[tuple[str, str]]:
    return {(entry.table, entry.column) for entry in dmap.columns()}


@pytest.fixture
def fresh_db(cloud_db_path: str) -> Iterator[sqlite_utils.Database]:
    db = open_db(cloud_db_path)
    yield db
    db.close()


@pytest.mark.backends("sqlite", "postgresql")
def test_every_live_column_is_declared_and_every_declared_column_exists(
        fresh_db: sqlite_utils.Database) -> None:
    live, declared = live_columns(fresh_db), declared_columns(data_map())
    assert live - declared == set(), "columns stored without a data map entry"
    assert declared - live == set(), "data map entries for columns that do not exist"


@pytest.mark.backends("sqlite", "postgresql")
def test_an_undeclared_column_is_caught(fresh_db: sqlite_utils.Database) -> None:
    for ddl in ("ALTER TABLE children ADD COLUMN favourite_colour TEXT",
                "CREATE TABLE voice_clips (id INTEGER PRIMARY KEY, pcm BLOB)"):
        fresh_db.execute(portable_ddl(ddl) if is_postgres(fresh_db) else ddl)
    missing = live_columns(fresh_db) - declared_columns(data_map())
    assert missing == {("children", "favourite_colour"), ("voice_clips", "id"),
                       ("voice_clips", "pcm")}


def test_every_column_names_a_known_category_purpose_and_legal_basis() -> None:
    dmap = data_map()
    for entry in dmap.columns():
        where = f"{entry.table}.{entry.column}"
        assert entry.category in dmap.categories, where
        assert entry.purpose in dmap.purposes, where
        assert entry.legal_basis in LEGAL_BASES, where


def test_every_table_has_a_finite_retention_under_a_known_purpose() -> None:
    dmap = data_map()
    for table, spec in dmap.tables.items():
        days = dmap.retention_days(table)
        assert 0 < days <= 3650, table
        assert spec["retention"]["purpose"] in dmap.purposes, table


def test_personal_data_rests_on_consent_or_an_account_the_parent_opened() -> None:
    dmap = data_map()
    for entry in dmap.columns():
        if dmap.categories[entry.category]["personal"] and entry.category != "parent.account":
            assert entry.legal_basis == "consent", f"{entry.table}.{entry.column}"


def test_slot_categories_and_purposes_come_from_the_same_map() -> None:
    dmap = data_map()
    assert dmap.slots, "the toy needs slot rules"
    for name, rule in dmap.slots.items():
        assert rule.category in dmap.categories, name
        assert rule.purpose == "none" or rule.purpose in dmap.purposes, name
        if rule.category == "child.location":
            assert rule.leaves_toy == "never", name
        if rule.is_personal and rule.leaves_toy != "never":
            assert dmap.purposes[rule.purpose].requires_consent, name


def test_the_intent_schema_refuses_what_the_map_keeps_on_the_toy() -> None:
    base = {"message_id": "a" * 32, "device_id": "toy-0123456789abcdef",
            "sent_at": 1_700_000_000, "locale": "en", "intent": "greet", "policy_version": 0}
    for name, rule in data_map().slots.items():
        value: str | int = 7 if name == "age" else "owl"
        message = {**base, "slots": {name: value}}
        if rule.leaves_toy == "never":
            with pytest.raises(ValueError):
                IntentMessage.model_validate(message)
        else:
            assert IntentMessage.model_validate(message).slots == {name: value}


@pytest.mark.parametrize("locale", ["en", "ko"])
def test_every_slot_the_toy_can_hear_has_a_rule_in_the_data_map(locale: str) -> None:
    """The gate decides from the data map; a slot it does not know could never be judged."""
    from device.nlu.templates import expand_templates, load_templates

    expansions = expand_templates(load_templates(locale))
    assert {slot for e in expansions for slot in e.slots} - set(data_map().slots) == set()
    for expansion in expansions:
        if expansion.intent == "share_location":
            assert all(data_map().slots[s].leaves_toy == "never" for s in expansion.slots)
