"""Per-device request signing: what the HMAC covers, the time window, nonces (R26, R28)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import Family, dump_tables, make_family
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from teddy.contracts import signing

POLICY = "/api/v1/policy"
FIELDS = ("method", "path", "timestamp", "nonce", "body")


@pytest.fixture
def family(db: sqlite_utils.Database) -> Family:
    return make_family(db, purposes=("core",))


def _sign(secret: str, parts: dict[str, str]) -> str:
    return signing.signature(secret, parts["method"], parts["path"], parts["timestamp"],
                             parts["nonce"], parts["body"].encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(FIELDS), change=st.text(min_size=1, max_size=8))
def test_the_signature_covers_every_part_of_the_request(field: str, change: str) -> None:
    parts = {"method": "POST", "path": "/api/v1/intent", "timestamp": "1700000000",
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
                                                            nonce, b"")}

    assert client.get(POLICY, headers=headers(family)).status_code == 200
    assert client.get(POLICY, headers=headers(other)).status_code == 200
    assert client.get(POLICY, headers=headers(family)).status_code == 401
    assert client.get(POLICY, headers=headers(other)).status_code == 401
