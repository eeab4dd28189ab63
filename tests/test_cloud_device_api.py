"""The device API end to end through the real Flask app, on a real SQLite file and a real
PostgreSQL database."""

from __future__ import annotations

import base64
import json
import time

import pytest
import sqlite_utils
from cloud_helpers import (
    Family,
    dump_tables,
    fail_inserts,
    intent_body,
    make_family,
    signed_intent_headers,
)
from flask import Flask
from flask.testing import FlaskClient

from cloud import consent, pairing
from cloud.device_api.auth import NONCE_KEEP_S, AuthenticatedDevice, AuthError, NonceBook
from cloud.keys.fields import open_value
from teddy.contracts.intent_message import MAX_BODY_BYTES

INTENT = "/api/v1/intent"
pytestmark = pytest.mark.backends("sqlite", "postgresql")


def send(client: FlaskClient, family: Family, intent: str,
         slots: dict[str, str | int] | None = None):  # type: ignore[no-untyped-def]
    body = intent_body(family, intent, slots)
    return client.post(INTENT, data=body, headers=signed_intent_headers(family, body))


def child_rows(db: sqlite_utils.Database) -> dict[str, list[tuple[object, ...]]]:
    dump = dump_tables(db)
    return {t: dump[t] for t in ("profile_facts", "intent_events", "children", "devices")}


# -- pairing -------------------------------------------------------------------------------
def test_pairing_code_becomes_a_device_secret_once(client: FlaskClient,
                                                   db: sqlite_utils.Database) -> None:
    family = make_family(db)
    code = pairing.issue_code(db, family.child_id, time.time())
    first = client.post("/api/v1/pair", json={"code": code.lower().replace("-", " ")})
    assert first.status_code == 201
    assert first.json["device_id"].startswith("toy-") and len(first.json["secret"]) == 64
    again = client.post("/api/v1/pair", json={"code": code})
    assert again.status_code == 401


def test_expired_or_malformed_pairing_code_is_refused(client: FlaskClient,
                                                      db: sqlite_utils.Database) -> None:
    family = make_family(db)
    stale = pairing.issue_code(db, family.child_id, time.time() - pairing.CODE_TTL_S - 1)
    before = dump_tables(db)
    assert client.post("/api/v1/pair", json={"code": stale}).status_code == 401
    assert client.post("/api/v1/pair", json={"code": 12345678}).status_code == 422
    assert client.post("/api/v1/pair", json={"code": "A" * 33}).status_code == 422
    assert client.post("/api/v1/pair", json={"code": stale, "x": 1}).status_code == 422
    assert client.post("/api/v1/pair", data=b"RIFF\x00\x00WAVE").status_code == 422
    after = dump_tables(db)
    # Only the throttle's count of the one wrong code changed: nothing about the child.
    assert {t for t in after if after[t] != before[t]} == {"pairing_failures"}
    assert [n for _scope, _window, n in after["pairing_failures"]] == [1, 1]


def test_a_flood_of_wrong_pairing_codes_is_throttled_without_storing_anything(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db)
    limit = app.config["TEDDY"].pairing_attempts_per_15_min
    code = pairing.issue_code(db, family.child_id, time.time())
    nothing_live = "0RNG-C0DE"  # "0" is never in a code: its locator names no live code
    before = dump_tables(db)
    for _ in range(limit):
        assert client.post("/api/v1/pair", json={"code": nothing_live}).status_code == 401
    counted = dump_tables(db)
    refused = client.post("/api/v1/pair", json={"code": nothing_live})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert refused.json["retry_after_s"] == int(refused.headers["Retry-After"])
    assert dump_tables(db) == counted, "a refused request writes nothing"
    # Wrong codes left only counts behind, in the throttle's own table.
    changed = {t for t in counted if counted[t] != before.get(t)}
    assert changed == {"pairing_failures"}
    # A wrong try at the live code gets the same 429 (the answer tells this address nothing
    # about which codes are live) and counts against that code; the right code pairs at once
    # (issue 26 item 5: it used to be refused too).
    near_miss = code[:5] + ("A" if code[5] != "A" else "B") + code[6:]
    assert client.post("/api/v1/pair", json={"code": near_miss}).status_code == 429
    assert client.post("/api/v1/pair", json={"code": code}).status_code == 201


# -- policy --------------------------------------------------------------------------------
def test_policy_lists_consented_purposes(client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "history"))
    response = client.get("/api/v1/policy", headers=family.sign("GET", "/api/v1/policy"))
    assert response.status_code == 200
    assert response.json["purposes"] == ["core", "history"]
    assert response.json["version"] == 2
    assert client.get("/api/v1/policy").status_code == 401


# -- replies and consent --------------------------------------------------------------------
def test_core_consent_gives_generic_reply_and_stores_nothing_about_the_child(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core",))
    response = send(client, family, "tell_story", {"topic": "dragons"})
    assert response.status_code == 200
    assert response.json["personalised"] is False
    assert response.json["policy"]["purposes"] == ["core"]
    assert db.execute("SELECT COUNT(*) FROM profile_facts").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0] == 0


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_personalisation_shapes_replies_and_revocation_stops_it_at_once(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "personalisation"))
    assert send(client, family, "share_name", {"child_name": "mia"}).status_code == 200
    assert send(client, family, "share_favorite", {"kind": "animal", "value": "owl"}).json
    story = send(client, family, "tell_story", {"topic": "dragons"})
    assert story.json["personalised"] is True
    assert "Mia" in story.json["reply"] and "owl" in story.json["reply"]

    consent.revoke(db, child_id=family.child_id, parent_id=family.parent_id,
                   purpose="personalisation", now=time.time())
    generic = send(client, family, "tell_story", {"topic": "dragons"})
    assert generic.status_code == 200
    assert generic.json["personalised"] is False
    assert "Mia" not in generic.json["reply"] and "owl" not in generic.json["reply"]
    before = child_rows(db)
    refused = send(client, family, "share_name", {"child_name": "zoe"})
    assert refused.status_code == 403
    assert refused.json["missing_purposes"] == ["personalisation"]
    assert child_rows(db) == before


def test_history_consent_keeps_the_request_with_an_expiry(client: FlaskClient,
                                                         db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "history"))
    assert send(client, family, "sing_song", {"song": "twinkle"}).status_code == 200
    rows = db.execute("SELECT intent, slots_json, received_at, expires_at FROM intent_events"
                      ).fetchall()
    assert len(rows) == 1
    intent, slots_json, received, expires = rows[0]
    # Stored sealed with the child's key; opened, exactly what the toy sent.
    assert slots_json.startswith("tk1:") and "twinkle" not in slots_json
    opened = open_value(db, family.child_id, "intent_events", "slots_json", slots_json)
    assert (intent, json.loads(opened or "")) == ("sing_song", {"song": "twinkle"})
    assert expires - received == pytest.approx(30 * 86400)


def test_no_consent_at_all_is_403_and_stores_only_the_nonce(client: FlaskClient,
                                                           db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=())
    before = dump_tables(db)
    response = send(client, family, "greet")
    assert response.status_code == 403
    assert response.json["missing_purposes"] == ["core"]
    after = dump_tables(db)
    assert {t for t in before if before[t] != after[t]} == {"seen_nonces"}
    assert len(after["seen_nonces"]) == len(before["seen_nonces"]) + 1


# -- bad input changes nothing (R28) ----------------------------------------------------------
def _signed_raw(client: FlaskClient, family: Family, body: bytes,
                content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    headers = signed_intent_headers(family, body, content_type=content_type)
    return client.post(INTENT, data=body, headers=headers)


@pytest.mark.parametrize("body", [
    b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00",
    b"OggS\x00\x02" + bytes(40),
    b"\xff\xfe\x00\x01not utf-8 \xc3\x28",
    b"not json at all",
    b"",
    b"[]",
])
def test_audio_binary_and_non_json_bodies_are_422(client: FlaskClient,
                                                   db: sqlite_utils.Database,
                                                   body: bytes) -> None:
    family = make_family(db, purposes=("core", "personalisation", "history"))
    before = dump_tables(db)
    response = _signed_raw(client, family, body)
    assert response.status_code == 422
    assert response.json["error"] == "invalid intent message"
    assert dump_tables(db) == before


@pytest.mark.parametrize("change", [
    {"transcript": "my name is mia and i live at"},
    {"audio": base64.b64encode(bytes(range(256)) * 2).decode()},
    {"slots": {"child_name": base64.b64encode(b"\x00" * 48).decode()}},
    {"slots": {"place": "paris"}},
    {"slots": {"address": "main street"}},
    {"slots": {"nickname": "mimi"}},
    {"intent": "share_location"},
    {"slots": {"a": "x", "b": "y", "c": "z", "d": "w", "e": "v"}},
    {"sent_at": "1700000000"},
    {"policy_version": -1},
])
def test_schema_violations_are_422(client: FlaskClient, db: sqlite_utils.Database,
                                   change: dict[str, object]) -> None:
    family = make_family(db, purposes=("core", "personalisation", "history"))
    body = intent_body(family, "tell_story", **change)  # type: ignore[arg-type]
    before = dump_tables(db)
    response = _signed_raw(client, family, body)
    assert response.status_code == 422, response.json
    assert response.json["problems"]
    assert dump_tables(db) == before


def test_wrong_content_type_is_415(client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db)
    body = intent_body(family, "greet")
    before = dump_tables(db)
    assert _signed_raw(client, family, body, "text/plain").status_code == 415
    assert _signed_raw(client, family, body, "audio/wav").status_code == 415
    assert dump_tables(db) == before


def test_oversized_body_is_413_before_anything_else(client: FlaskClient,
                                                    db: sqlite_utils.Database) -> None:
    family = make_family(db)
    body = b'{"pad": "' + b"a" * MAX_BODY_BYTES + b'"}'
    before = dump_tables(db)
    signed = _signed_raw(client, family, body)
    unsigned = client.post(INTENT, data=body, content_type="application/json")
    assert (signed.status_code, unsigned.status_code) == (413, 413)
    assert signed.json["limit_bytes"] == MAX_BODY_BYTES
    assert dump_tables(db) == before


def test_unsigned_forged_stale_replayed_and_unknown_requests_are_401(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db)
    body = intent_body(family, "greet")
    before = dump_tables(db)
    assert client.post(INTENT, data=body, content_type="application/json").status_code == 401
    forged = signed_intent_headers(family, body)
    forged["X-Teddy-Signature"] = "0" * 64
    assert client.post(INTENT, data=body, headers=forged).status_code == 401
    tampered = signed_intent_headers(family, body)
    assert client.post(INTENT, data=body.replace(b"greet", b"tell_joke"),
                       headers=tampered).status_code == 401
    stale = signed_intent_headers(family, body, now=time.time() - 301)
    assert client.post(INTENT, data=body, headers=stale).status_code == 401
    future = signed_intent_headers(family, body, now=time.time() + 301)
    assert client.post(INTENT, data=body, headers=future).status_code == 401
    stranger = Family(family.parent_id, family.child_id, "toy-0123456789abcdef", family.secret,
                      family.email)
    assert client.post(INTENT, data=body, headers=signed_intent_headers(stranger, body)
                       ).status_code == 401
    assert dump_tables(db) == before

    once = signed_intent_headers(family, body)
    assert client.post(INTENT, data=body, headers=once).status_code == 200
    replay = client.post(INTENT, data=body, headers=once)
    assert replay.status_code == 401
    assert replay.json == {"error": "unauthenticated device request"}


def test_a_failure_mid_request_leaves_nothing_half_written(app: Flask,
                                                            db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "personalisation", "history"))
    fail_inserts(db, "intent_events", "disk on fire")
    before = dump_tables(db)
    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = send(app.test_client(), family, "share_name", {"child_name": "mia"})
    assert response.status_code == 500
    assert dump_tables(db) == before


def test_old_nonces_are_pruned_and_fresh_ones_kept(db: sqlite_utils.Database) -> None:
    family = make_family(db)
    now = time.time()
    book = NonceBook()
    db.execute("INSERT INTO seen_nonces VALUES (?, ?, ?)",
               [family.device_id, "a" * 32, now - NONCE_KEEP_S - 1])
    db.execute("INSERT INTO seen_nonces VALUES (?, ?, ?)",
               [family.device_id, "b" * 32, now - NONCE_KEEP_S + 60])
    device = AuthenticatedDevice(family.device_id, family.child_id, "c" * 32)
    book.consume(db, device, now)
    kept = {row[0] for row in db.execute("SELECT nonce FROM seen_nonces")}
    assert kept == {"b" * 32, "c" * 32}
    with pytest.raises(AuthError):
        book.consume(db, device, now)


def test_facts_from_before_a_withdrawal_stay_unused_after_consent_returns(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "personalisation"))
    assert send(client, family, "share_name", {"child_name": "mia"}).status_code == 200
    consent.revoke(db, child_id=family.child_id, parent_id=family.parent_id,
                   purpose="personalisation", now=time.time())
    consent.grant(db, child_id=family.child_id, parent_id=family.parent_id,
                  purpose="personalisation", notice_version=1, method="signed_form",
                  now=time.time())
    assert "Mia" not in send(client, family, "tell_story", {"topic": "dragons"}).json["reply"]
    assert send(client, family, "share_name", {"child_name": "zoe"}).status_code == 200
    assert "Zoe" in send(client, family, "tell_story", {"topic": "dragons"}).json["reply"]


def test_consenting_again_to_a_new_notice_keeps_what_was_remembered(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "personalisation"))
    assert send(client, family, "share_name", {"child_name": "mia"}).status_code == 200
    consent.grant(db, child_id=family.child_id, parent_id=family.parent_id,
                  purpose="personalisation", notice_version=2, method="signed_form",
                  now=time.time())
    assert "Mia" in send(client, family, "tell_story", {"topic": "dragons"}).json["reply"]


def test_a_first_name_the_parent_gave_is_used_only_under_personalisation(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    with_consent = make_family(db, purposes=("core", "personalisation"), first_name="Ada")
    without = make_family(db, purposes=("core",), first_name="Bea")
    assert "Ada" in send(client, with_consent, "tell_story", {"topic": "dragons"}).json["reply"]
    assert "Bea" not in send(client, without, "tell_story", {"topic": "dragons"}).json["reply"]


def test_the_pairing_throttle_counts_fixed_windows_in_the_database(
        db: sqlite_utils.Database) -> None:
    from cloud.device_api.pairing_throttle import PairingThrottle

    throttle = PairingThrottle(per_address=2, overall=3, key="k", window_s=100)
    throttle.record_failure(db, "a", 0)
    throttle.record_failure(db, "a", 50)
    assert throttle.retry_after_s(db, "a", 60) == pytest.approx(40)
    assert throttle.retry_after_s(db, "b", 60) is None
    assert throttle.retry_after_s(db, "a", 101) is None  # a new window
    throttle.record_failure(db, "b", 60)
    # Past the overall limit nobody is refused for others' guesses; allowances shrink to 2.
    assert throttle.retry_after_s(db, "c", 60) is None
    throttle.record_failure(db, "c", 61)
    assert throttle.retry_after_s(db, "c", 62) is None
    throttle.record_failure(db, "c", 62)
    assert throttle.retry_after_s(db, "c", 63) == pytest.approx(37)


UNPAIR = "/api/v1/unpair"


def test_unpair_forgets_the_toy_and_only_what_was_kept_for_it(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db, purposes=("core", "history"))
    second_toy, _secret = pairing_of_another_toy(db, family)
    assert send(client, family, "tell_story", {"topic": "dinosaurs"}).status_code == 200
    history_before = dump_tables(db)["intent_events"]
    headers = family.sign("POST", UNPAIR)
    reply = client.post(UNPAIR, headers=headers)
    assert reply.status_code == 200 and reply.get_json()["unpaired"] == family.device_id
    for table in ("devices", "seen_nonces", "processed_messages"):
        assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE "
                          f"{'id' if table == 'devices' else 'device_id'} = ?",
                          [family.device_id]).fetchone()[0] == 0, table
    # The other toy and the child's history are the parent's to keep or erase.
    assert db.execute("SELECT COUNT(*) FROM devices WHERE id = ?", [second_toy]).fetchone()[0]
    assert dump_tables(db)["intent_events"] == history_before
    assert db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'device.unpair'"
                      ).fetchone()[0] == 1
    # The key no longer works, not even to replay the request that unpaired it.
    assert send(client, family, "greet").status_code == 401
    assert client.post(UNPAIR, headers=headers).status_code == 401


def test_unpair_refuses_a_body_an_unsigned_or_a_forged_request_and_changes_nothing(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    family = make_family(db)
    before = dump_tables(db)
    with_body = client.post(UNPAIR, data=b'{"all": true}',
                            headers=family.sign("POST", UNPAIR, b'{"all": true}'))
    assert with_body.status_code == 422
    assert client.post(UNPAIR).status_code == 401
    forged = Family(family.parent_id, family.child_id, family.device_id, "0" * 64, family.email)
    assert client.post(UNPAIR, headers=forged.sign("POST", UNPAIR)).status_code == 401
    assert dump_tables(db) == before


def pairing_of_another_toy(db: sqlite_utils.Database, family: Family) -> tuple[str, str]:
    paired = pairing.redeem(db, pairing.issue_code(db, family.child_id, time.time()), time.time())
    assert paired is not None
    return paired[0], paired[1]
