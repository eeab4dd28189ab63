"""Retries are idempotent by message_id (issue 26, item 12): a toy that sends the same message
again after a lost reply gets the first answer, and the cloud stores the intent once.

The lost reply is simulated by discarding the first answer: the cloud committed, the toy never
heard. A retry carries a fresh signature (new nonce and timestamp) around the same body, as the
toy sends it (device.privacy.gate). Negative control: the same cloud with `dedupe_retries`
off stores the intent twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from cloud_helpers import (
    Family,
    db_for,
    dump_tables,
    intent_body,
    make_app,
    make_family,
    signed_intent_headers,
)
from flask import Flask

from cloud.device_api.processed import KEEP_S, TABLE
from cloud.parent_web.notice_facts import PROCESSED_KEEP_MINUTES
from cloud.retention.erasure import erase_child
from cloud.retention.purge import purge_expired
from cloud.retention.revocation import revoke_and_erase
from cloud.storage.schema import live_columns
from teddy.contracts.data_map import data_map

NAME = "Zephyrine"


def _post(app: Flask, family: Family, body: bytes) -> tuple[int, dict[str, Any]]:
    reply = app.test_client().post("/api/v1/intent", data=body,
                                   headers=signed_intent_headers(family, body))
    return reply.status_code, reply.get_json()


def _count(db: sqlite_utils.Database, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _without_nonces(db: sqlite_utils.Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = dump_tables(db)
    tables.pop("seen_nonces")
    return tables


def _chatty(db: sqlite_utils.Database) -> Family:
    return make_family(db, purposes=("core", "history", "personalisation"), first_name=NAME)


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_a_retry_after_a_lost_reply_gets_the_same_reply_and_stores_once(
        app: Flask, db: sqlite_utils.Database) -> None:
    family = _chatty(db)
    body = intent_body(family, "share_name", {"child_name": "zephyrine"})
    status, lost = _post(app, family, body)  # committed; the toy never heard the answer
    assert status == 200, lost
    assert NAME.lower() in lost["reply"].lower() and lost["personalised"]
    before_retry = _without_nonces(db)
    for _ in range(2):
        status, retried = _post(app, family, body)
        assert status == 200, retried
        assert (retried["reply"], retried["personalised"]) == (lost["reply"], True)
    assert _count(db, "intent_events") == 1
    assert _count(db, TABLE) == 1
    # No second write of any kind: only the retries' own nonces were added.
    assert _without_nonces(db) == before_retry


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_negative_control_without_the_dedupe_a_retry_stores_the_intent_twice(
        tmp_path: Path, cloud_db_path: str) -> None:
    app = make_app(tmp_path, db_path=cloud_db_path, dedupe_retries=False)
    db = db_for(app)
    try:
        family = _chatty(db)
        body = intent_body(family, "tell_story", {"topic": "dragons"})
        assert _post(app, family, body)[0] == 200
        assert _post(app, family, body)[0] == 200
        assert _count(db, "intent_events") == 2  # the failure the dedupe prevents
        assert _count(db, TABLE) == 0
    finally:
        db.close()


@pytest.mark.backends("sqlite", "postgresql")
def test_a_message_id_reused_for_a_different_message_is_refused_and_changes_nothing(
        app: Flask, db: sqlite_utils.Database) -> None:
    family = _chatty(db)
    first = intent_body(family, "tell_story", {"topic": "dragons"})
    assert _post(app, family, first)[0] == 200
    message_id = first.split(b'"message_id": "')[1][:32].decode()
    other = intent_body(family, "tell_story", {"topic": "pirates"}, message_id=message_id)
    before = dump_tables(db)
    status, refused = _post(app, family, other)
    assert status == 409, refused
    assert refused["code"] == "message_id_reused" and "nothing was stored" in refused["error"]
    assert dump_tables(db) == before  # not even the nonce
    assert _count(db, "intent_events") == 1


@pytest.mark.backends("sqlite", "postgresql")
def test_the_record_holds_ids_a_keyed_digest_and_a_sealed_reply_only(
        app: Flask, db: sqlite_utils.Database) -> None:
    family = _chatty(db)
    body = intent_body(family, "share_name", {"child_name": "zephyrine"})
    assert _post(app, family, body)[0] == 200
    row = db.execute(f"SELECT * FROM {TABLE}").fetchone()
    text = " ".join(str(value) for value in row)
    assert NAME.lower() not in text.lower()  # the reply names the child: it is sealed
    assert "share_name" not in text and "child_name" not in text
    columns = {column for table, column in live_columns(db) if table == TABLE}
    declared = set(data_map().tables[TABLE]["columns"])
    assert columns == declared == {"device_id", "message_id", "child_id", "body_digest",
                                   "reply_json", "purpose", "received_at", "expires_at"}
    assert data_map().sealed_columns()[TABLE] == ("reply_json",)


@pytest.mark.backends("sqlite", "postgresql")
def test_the_record_is_purged_after_its_retention_and_a_later_resend_counts_as_new(
        app: Flask, db: sqlite_utils.Database) -> None:
    family = _chatty(db)
    body = intent_body(family, "tell_story", {"topic": "dragons"})
    assert _post(app, family, body)[0] == 200
    received_at = float(db.execute(f"SELECT received_at FROM {TABLE}").fetchone()[0])
    assert purge_expired(db, received_at + KEEP_S - 1, checkpoint=False).rows[TABLE] == 0
    assert _count(db, TABLE) == 1  # control: still inside its retention
    assert purge_expired(db, received_at + KEEP_S + 1, checkpoint=False).rows[TABLE] == 1
    assert _count(db, TABLE) == 0
    assert data_map().retention_days(TABLE) * 86400 >= KEEP_S
    assert PROCESSED_KEEP_MINUTES * 60 == KEEP_S  # the notice's words match the code


@pytest.mark.backends("sqlite", "postgresql")
def test_erasing_the_child_removes_its_records(
        app: Flask, db: sqlite_utils.Database) -> None:
    family = _chatty(db)
    other = _chatty(db)
    for who in (family, other):
        assert _post(app, who, intent_body(who, "tell_joke"))[0] == 200
    erase_child(db, child_id=family.child_id, parent_id=family.parent_id, now=time.time(),
                db_path=app.config["TEDDY"].db_path)
    left = [r[0] for r in db.execute(f"SELECT child_id FROM {TABLE}")]
    assert left == [other.child_id]


@pytest.mark.backends("sqlite", "postgresql")
def test_withdrawing_personalisation_erases_personalised_replies_and_a_retry_is_not_personal(
        app: Flask, db: sqlite_utils.Database) -> None:
    family = _chatty(db)
    named = intent_body(family, "share_name", {"child_name": "zephyrine"})
    status, first = _post(app, family, named)
    assert status == 200 and first["personalised"]
    plain = intent_body(family, "tell_joke")
    assert _post(app, family, plain)[0] == 200
    kept = dict(db.execute(f"SELECT purpose, COUNT(*) FROM {TABLE} GROUP BY purpose"))
    assert kept == {"personalisation": 2}  # the joke used the profile too
    revoke_and_erase(db, child_id=family.child_id, parent_id=family.parent_id,
                     purposes=["personalisation"], now=time.time())
    assert _count(db, TABLE) == 0
    # Sent again, a message is answered from what consent still allows, never by name.
    joke = intent_body(family, "tell_story", {"topic": "dragons"})
    status, again = _post(app, family, joke)
    assert status == 200 and not again["personalised"]
    assert dict(db.execute(f"SELECT purpose, COUNT(*) FROM {TABLE} GROUP BY purpose")) == {
        "core": 1}
