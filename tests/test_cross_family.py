"""One family's toy can never read or change another family's data (R26), device API side."""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from cloud_helpers import (
    Family,
    dump_tables,
    intent_body,
    make_family,
    signed_intent_headers,
)
from flask.testing import FlaskClient

from cloud.keys.fields import open_value
from teddy.contracts import signing

INTENT = "/api/v1/intent"
POLICY = "/api/v1/policy"
ALL = ("core", "personalisation", "history")


@pytest.fixture
def families(db: sqlite_utils.Database) -> tuple[Family, Family]:
    return make_family(db, purposes=ALL), make_family(db, purposes=("core",))


def _send(client: FlaskClient, family: Family, intent: str,
          slots: dict[str, str | int] | None = None):  # type: ignore[no-untyped-def]
    body = intent_body(family, intent, slots)
    return client.post(INTENT, data=body, headers=signed_intent_headers(family, body))


def _as(holder: Family, claimed: Family) -> Family:
    """Someone holding `holder`'s secret pretending to be `claimed`'s toy."""
    return Family(claimed.parent_id, claimed.child_id, claimed.device_id, holder.secret,
                  holder.email)


def test_a_message_naming_another_toy_is_refused_whichever_key_signs_it(
        client: FlaskClient, db: sqlite_utils.Database,
        families: tuple[Family, Family]) -> None:
    a, b = families
    before = dump_tables(db)
    # A's key, B's device id in the body, A's device id in the headers.
    body = intent_body(b, "share_name", {"child_name": "mia"})
    assert client.post(INTENT, data=body, headers=signed_intent_headers(a, body)
                       ).status_code == 401
    # A's key, B's device id in both the headers and the body.
    impostor = _as(a, b)
    assert client.post(INTENT, data=body, headers=signed_intent_headers(impostor, body)
                       ).status_code == 401
    assert client.get(POLICY, headers=impostor.sign("GET", POLICY)).status_code == 401
    assert dump_tables(db) == before


def test_a_toy_reads_only_its_own_childs_policy_and_profile(
        client: FlaskClient, db: sqlite_utils.Database,
        families: tuple[Family, Family]) -> None:
    a, b = families
    assert _send(client, a, "share_name", {"child_name": "mia"}).status_code == 200
    assert _send(client, a, "share_favorite", {"kind": "animal", "value": "owl"}
                 ).status_code == 200
    policy_b = client.get(POLICY, headers=b.sign("GET", POLICY)).json
    assert policy_b["purposes"] == ["core"]
    story_b = _send(client, b, "tell_story", {"topic": "dragons"}).json
    assert story_b["personalised"] is False
    assert "Mia" not in story_b["reply"] and "owl" not in story_b["reply"]
    owners = {row[0] for row in db.execute(
        "SELECT child_id FROM profile_facts UNION SELECT child_id FROM intent_events")}
    assert owners == {a.child_id}


def test_a_nonce_from_one_family_cannot_be_replayed_as_another(
        client: FlaskClient, families: tuple[Family, Family]) -> None:
    a, b = families
    body = intent_body(a, "greet")
    headers = signed_intent_headers(a, body)
    assert client.post(INTENT, data=body, headers=headers).status_code == 200
    stolen = dict(headers)
    stolen[signing.HEADER_DEVICE] = b.device_id
    assert client.post(INTENT, data=body, headers=stolen).status_code == 401


def test_deleting_one_family_locks_out_its_toy_and_leaves_the_other_untouched(
        client: FlaskClient, db: sqlite_utils.Database,
        families: tuple[Family, Family]) -> None:
    a, b = families
    assert _send(client, a, "sing_song", {"song": "twinkle"}).status_code == 200
    db.execute("DELETE FROM children WHERE id = ?", [b.child_id])
    assert client.get(POLICY, headers=b.sign("GET", POLICY)).status_code == 401
    assert _send(client, b, "greet").status_code == 401
    reply = _send(client, a, "sing_song", {"song": "twinkle"})
    assert reply.status_code == 200
    events = db.execute("SELECT child_id, slots_json FROM intent_events").fetchall()
    assert [(child, json.loads(open_value(db, child, "intent_events", "slots_json", slots)
                                   or "")) for child, slots in events] == [
        (a.child_id, {"song": "twinkle"})] * 2
