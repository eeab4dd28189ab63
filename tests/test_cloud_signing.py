"""Per-device request signing: what the HMAC covers, the time window, nonces (R26, R28)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import Family, dump_tables, intent_body, make_family
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from teddy.contracts import signing

POLICY = "/api/v1/policy"
INTENT = "/api/v1/intent"
FIELDS = ("method", "path", "query", "content_type", "timestamp", "nonce", "body")


@pytest.fixture
def family(db: sqlite_utils.Database) -> Family:
    return make_family(db, purposes=("core",))


def _sign(secret: str, parts: dict[str, str]) -> str:
    target = parts["path"] + ("?" + parts["query"] if parts["query"] else "")
    return signing.signature(secret, parts["method"], target, parts["timestamp"],
                             parts["nonce"], parts["body"].encode("utf-8"), parts["content_type"])


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(FIELDS), change=st.text(min_size=1, max_size=8))
def test_the_signature_covers_every_part_of_the_request(field: str, change: str) -> None:
    parts = {"method": "POST", "path": "/api/v1/intent", "query": "lang=en",
             "content_type": "application/json", "timestamp": "1700000000",
             "nonce": "0123456789abcdef", "body": '{"intent": "greet"}'}
    altered = {**parts, field: parts[field] + change}
    if altered["method"].upper() == "POST" and field == "method":
        return  # methods are case-insensitive by design
    assert _sign("s3cret", altered) != _sign("s3cret", parts)
    assert _sign("other", parts) != _sign("s3cret", parts)


def test_a_signature_for_one_path_or_method_does_not_work_on_another(
        client: FlaskClient, family: Family, db: sqlite_utils.Database) -> None:
    for_intent = family.sign("GET", "/api/v1/intent")
    for_post = family.sign("POST", POLICY)
    before = dump_tables(db)
    assert client.get(POLICY, headers=for_intent).status_code == 401
    assert client.get(POLICY, headers=for_post).status_code == 401
    assert dump_tables(db) == before
    assert client.get(POLICY, headers=family.sign("GET", POLICY)).status_code == 200


@pytest.mark.parametrize("skew_s, accepted", [(-290, True), (290, True), (-310, False),
                                              (310, False)])
def test_timestamps_must_be_within_the_window(client: FlaskClient, family: Family,
                                              skew_s: int, accepted: bool) -> None:
    headers = family.sign("GET", POLICY, now=time.time() + skew_s)
    assert (client.get(POLICY, headers=headers).status_code == 200) is accepted


@pytest.mark.parametrize("header, value", [
    (signing.HEADER_TIMESTAMP, "1e9"),
    (signing.HEADER_TIMESTAMP, "-1700000000"),
    (signing.HEADER_TIMESTAMP, ""),
    (signing.HEADER_NONCE, "short"),
    (signing.HEADER_NONCE, "x" * 65),
    (signing.HEADER_NONCE, "has spaces in it!"),
    (signing.HEADER_SIGNATURE, "A" * 64),
    (signing.HEADER_DEVICE, ""),
    (signing.HEADER_DEVICE, "toy-" + "a" * 80),
])
def test_malformed_headers_are_401(client: FlaskClient, family: Family, header: str,
                                   value: str) -> None:
    headers = family.sign("GET", POLICY)
    headers[header] = value
    response = client.get(POLICY, headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "unauthenticated device request"}


def test_the_cloud_judges_freshness_by_its_own_injectable_clock(
        app: Flask, client: FlaskClient, family: Family) -> None:
    day = 86400
    Path(app.config["TEDDY"].clock_file).write_text(str(day), "utf-8")
    assert client.get(POLICY, headers=family.sign("GET", POLICY)).status_code == 401
    moved = family.sign("GET", POLICY, now=time.time() + day)
    assert client.get(POLICY, headers=moved).status_code == 200


def test_a_nonce_is_single_use_per_device_only(client: FlaskClient, db: sqlite_utils.Database,
                                               family: Family) -> None:
    other = make_family(db, purposes=("core",))
    now = str(int(time.time()))
    nonce = "shared-nonce-0123456789"

    def headers(who: Family) -> dict[str, str]:
        return {signing.HEADER_DEVICE: who.device_id, signing.HEADER_TIMESTAMP: now,
                signing.HEADER_NONCE: nonce,
                signing.HEADER_SIGNATURE: signing.signature(who.secret, "GET", POLICY, now,
                                                            nonce, b"", "")}

    assert client.get(POLICY, headers=headers(family)).status_code == 200
    assert client.get(POLICY, headers=headers(other)).status_code == 200
    assert client.get(POLICY, headers=headers(family)).status_code == 401
    assert client.get(POLICY, headers=headers(other)).status_code == 401


def test_a_relay_cannot_change_the_query_string_or_the_content_type(
        client: FlaskClient, family: Family) -> None:
    signed = family.sign("GET", POLICY + "?view=short")
    assert client.get(POLICY + "?view=long", headers=signed).status_code == 401
    assert client.get(POLICY, headers=family.sign("GET", POLICY + "?view=short")).status_code \
        == 401
    assert client.get(POLICY + "?view=short", headers=signed).status_code == 200
    body = intent_body(family, "greet")
    as_json = family.sign("POST", INTENT, body)
    relabelled = {**as_json, "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(INTENT, data=body, headers=relabelled).status_code == 401
    assert client.post(INTENT, data=body, headers=as_json).status_code == 200


def _reply_is_signed_for(response, family: Family, request_headers: dict[str, str]) -> bool:
    given = response.headers.get(signing.HEADER_REPLY_SIGNATURE, "")
    expected = signing.reply_signature(family.secret, response.status_code,
                                       request_headers[signing.HEADER_NONCE],
                                       request_headers[signing.HEADER_TIMESTAMP],
                                       response.get_data())
    return signing.signature_matches(expected, given)


def test_the_cloud_signs_its_replies_to_the_request_that_asked(
        client: FlaskClient, db: sqlite_utils.Database, family: Family) -> None:
    asked = family.sign("GET", POLICY)
    reply = client.get(POLICY, headers=asked)
    assert reply.status_code == 200 and _reply_is_signed_for(reply, family, asked)
    # The same reply does not verify as the answer to any other request (no replay).
    assert not _reply_is_signed_for(reply, family, family.sign("GET", POLICY))
    # Refusals that carry a policy are signed too.
    unconsented = make_family(db, purposes=())
    body = intent_body(unconsented, "greet")
    asked = unconsented.sign("POST", INTENT, body)
    refused = client.post(INTENT, data=body, headers=asked)
    assert refused.status_code == 403 and "policy" in refused.json
    assert _reply_is_signed_for(refused, unconsented, asked)


def test_a_toy_with_a_wrong_clock_is_told_so_in_a_signed_reply_a_forger_is_not(
        client: FlaskClient, family: Family) -> None:
    asked = family.sign("GET", POLICY, now=time.time() - 600)
    reply = client.get(POLICY, headers=asked)
    assert reply.status_code == 401
    assert abs(reply.json["clock_skew_s"] + 600) <= 5
    assert abs(reply.json["server_time"] - time.time()) <= 5
    assert _reply_is_signed_for(reply, family, asked)
    forged = {**asked, signing.HEADER_SIGNATURE: "0" * 64}
    answer = client.get(POLICY, headers=forged)
    assert answer.status_code == 401
    assert answer.json == {"error": "unauthenticated device request"}
    assert signing.HEADER_REPLY_SIGNATURE not in answer.headers


def test_the_api_description_says_what_is_signed_both_ways(client: FlaskClient) -> None:
    """Another team's toy is built from /api/openapi.json: it must learn that the query and
    content type are signed and which replies carry the cloud's signature."""
    document = client.get("/api/openapi.json").json
    scheme = document["components"]["securitySchemes"]["Signature"]["description"]
    assert "query string" in scheme and "Content-Type" in scheme
    signed_replies = {(path, method, status)
                      for path, operations in document["paths"].items()
                      for method, operation in operations.items()
                      for status, answer in operation["responses"].items()
                      if signing.HEADER_REPLY_SIGNATURE in answer.get("headers", {})}
    assert signed_replies == {("/api/v1/policy", "get", "200"), ("/api/v1/intent", "post", "200"),
                              ("/api/v1/intent", "post", "403"), ("/api/v1/unpair", "post", "200"),
                              # a restarted toy's question about a lost reply: each answer is
                              # signed, so a relay cannot forge "not stored"
                              ("/api/v1/intent/outcome", "post", "200"),
                              ("/api/v1/intent/outcome", "post", "403"),
                              ("/api/v1/intent/outcome", "post", "404")}
    error = document["components"]["schemas"]["Error"]["properties"]
    assert {"server_time", "clock_skew_s"} <= set(error)
