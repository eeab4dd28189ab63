"""`POST /api/v1/intent/outcome`: a restarted toy asks, by message id alone, what became of a
message it sent without hearing back (issue 26, item 12; the toy's side is
tests/test_toy_outbox.py)."""

from __future__ import annotations

import json
import time

import pytest
import sqlite_utils
from cloud_helpers import Family, dump_tables, intent_body, make_family, signed_intent_headers
from flask import Flask
from flask.testing import FlaskClient

from cloud import consent
from cloud.storage.db import write_transaction
from teddy.contracts.intent_message import OUTCOME_PATH

pytestmark = pytest.mark.backends("sqlite", "postgresql", fast_tier=True)


def _ask(client: FlaskClient, family: Family, message_id: str,
         headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps({"message_id": message_id}).encode()
    headers = headers or {"Content-Type": "application/json",
                          **family.sign("POST", OUTCOME_PATH, body, None, "application/json")}
    return client.post(OUTCOME_PATH, data=body, headers=headers), headers


def _send(client: FlaskClient, family: Family, intent: str, slots: dict[str, str | int]
          ) -> tuple[str, str]:
    body = intent_body(family, intent, slots)
    reply = client.post("/api/v1/intent", data=body, headers=signed_intent_headers(family, body))
    assert reply.status_code == 200, reply.get_json()
    return json.loads(body)["message_id"], reply.get_json()["reply"]


def test_a_stored_message_is_answered_with_its_reply_and_nothing_is_written(
        app: Flask, db: sqlite_utils.Database, client: FlaskClient) -> None:
    family = make_family(db, purposes=("core", "history"))
    message_id, reply = _send(client, family, "tell_story", {"topic": "dragons"})
    before = dump_tables(db)
    answer, headers = _ask(client, family, message_id)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["reply"] == reply
    assert answer.headers.get("X-Teddy-Reply-Signature")
    after = dump_tables(db)
    assert {t for t in after if after[t] != before[t]} == {"seen_nonces"}
    # The same signed question again is a replay.
    again, _ = _ask(client, family, message_id, headers)
    assert again.status_code == 401


def test_no_record_and_a_withdrawn_purpose_are_refused_and_change_nothing(
        app: Flask, db: sqlite_utils.Database, client: FlaskClient) -> None:
    family = make_family(db, purposes=("core", "history", "personalisation"))
    message_id, _reply = _send(client, family, "share_name", {"child_name": "emma"})
    before = dump_tables(db)
    unknown, _ = _ask(client, family, "f" * 32)
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "no_record")
    assert dump_tables(db) == before  # the nonce too
    with write_transaction(db):
        consent.revoke(db, child_id=family.child_id, parent_id=family.parent_id,
                       purpose="personalisation", now=time.time())
    before = dump_tables(db)
    refused, _ = _ask(client, family, message_id)
    assert refused.status_code == 403
    assert refused.get_json()["missing_purposes"] == ["personalisation"]
    assert "personalisation" not in refused.get_json()["policy"]["purposes"]
    assert dump_tables(db) == before


@pytest.mark.parametrize("body", [b'{"message_id": "xyz"}', b"{}",
                                  b'{"message_id": "' + b"a" * 32 + b'", "intent": "greet"}'])
def test_anything_but_a_message_id_is_422(app: Flask, db: sqlite_utils.Database,
                                          client: FlaskClient, body: bytes) -> None:
    family = make_family(db)
    before = dump_tables(db)
    headers = {"Content-Type": "application/json",
               **family.sign("POST", OUTCOME_PATH, body, None, "application/json")}
    reply = client.post(OUTCOME_PATH, data=body, headers=headers)
    assert reply.status_code == 422
    assert dump_tables(db) == before
