"""Schema-driven fuzzing of every device API operation listed in /api/openapi.json (R28).

For each operation the served description names, hypothesis sends malformed input: raw bytes,
arbitrary JSON, valid messages with one thing broken, and mangled signature headers, signed
and unsigned. Every answer must be a documented 4xx, never a 5xx, and the database must be
byte-for-byte the same afterwards, row by row in every table.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from cloud_helpers import Family, db_for, dump_tables, make_app, make_family
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cloud.openapi import openapi_document
from teddy.contracts import signing
from teddy.contracts.intent_message import IntentMessage

EXAMPLES = 60
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
OPERATIONS = [(method.upper(), path) for path, item in openapi_document()["paths"].items()
              for method in item]
CONTENT_TYPES = ["application/json", "text/plain", "audio/wav", "application/octet-stream",
                 "multipart/form-data; boundary=x", "application/json; charset=latin-1", ""]
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False)
    | st.text(max_size=60),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


class Target:
    def __init__(self, tmp: Path) -> None:
        self.app = make_app(tmp)
        self.client: FlaskClient = self.app.test_client()
        self.db: sqlite_utils.Database = db_for(self.app)
        self.family: Family = make_family(self.db, purposes=("core", "personalisation",
                                                             "history"))

    def valid_message(self) -> dict[str, Any]:
        return {"message_id": uuid.uuid4().hex, "device_id": self.family.device_id,
                "sent_at": int(time.time()), "locale": "en", "intent": "tell_story",
                "slots": {"topic": "dragons"}, "policy_version": 0}

    def send(self, method: str, path: str, body: bytes, content_type: str, signed: bool,
             header_overrides: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        headers = {"Content-Type": content_type} if content_type else {}
        if signed:
            headers.update(self.family.sign(method, path, body, content_type=content_type))
        headers.update(header_overrides or {})
        return self.client.open(path, method=method, data=body, headers=headers)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    return Target(tmp_path_factory.mktemp("fuzz"))


def documented(method: str, path: str) -> set[int]:
    responses = openapi_document()["paths"][path][method.lower()]["responses"]
    return {int(code) for code in responses}


def check(target: Target, method: str, path: str, response: Any,
          before: dict[str, list[tuple[Any, ...]]]) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, response.json)
    assert response.status_code in documented(method, path)
    assert response.is_json and "error" in response.json
    assert dump_tables(target.db) == before


def is_valid_message(value: object) -> bool:
    try:
        IntentMessage.model_validate_json(json.dumps(value))
    except (ValidationError, TypeError, ValueError):
        return False
    return True


def test_the_served_description_is_the_one_fuzzed(target: Target) -> None:
    served = target.client.get("/api/openapi.json")
    assert served.status_code == 200
    assert served.json == json.loads(json.dumps(openapi_document()))
    assert {path for _m, path in OPERATIONS} == {"/api/v1/pair", "/api/v1/policy",
                                                "/api/v1/intent", "/api/v1/unpair",
                                                "/api/v1/intent/outcome"}


def a_valid_unpair(path: str, body: bytes, signed: bool) -> bool:
    """A signed unpair without a body is the real request: it would forget the target's toy
    (tests/test_cloud_device_api.py checks what it does); everything else must be refused."""
    return path == "/api/v1/unpair" and signed and body.strip() in (b"", b"{}")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@FUZZ
@given(body=st.binary(max_size=1400), content_type=st.sampled_from(CONTENT_TYPES),
       signed=st.booleans())
def test_raw_bytes(target: Target, method: str, path: str, body: bytes, content_type: str,
                   signed: bool) -> None:
    assume(not a_valid_unpair(path, body, signed))
    before = dump_tables(target.db)
    response = target.send(method, path, body, content_type, signed)
    if path == "/api/v1/policy" and signed and response.status_code == 200:
        # A GET ignores its body, so a signed one is simply a valid request; nothing to fuzz.
        return
    check(target, method, path, response, before)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@FUZZ
@given(value=json_values, signed=st.booleans())
def test_arbitrary_json(target: Target, method: str, path: str, value: object,
                        signed: bool) -> None:
    body = json.dumps(value).encode()
    assume(not a_valid_unpair(path, body, signed))
    before = dump_tables(target.db)
    response = target.send(method, path, body, "application/json", signed)
    if path == "/api/v1/policy" and signed and response.status_code == 200:
        return
    check(target, method, path, response, before)


MUTATIONS = st.sampled_from(["drop", "add", "replace", "slot"])


@FUZZ
@given(mutation=MUTATIONS, key=st.sampled_from(sorted(IntentMessage.model_fields)),
       stray=st.text(min_size=1, max_size=20), value=json_values,
       slot_text=st.text(max_size=80))
def test_one_thing_wrong_in_a_signed_intent(target: Target, mutation: str, key: str,
                                            stray: str, value: object,
                                            slot_text: str) -> None:
    message: dict[str, Any] = target.valid_message()
    if mutation == "drop":
        message.pop(key)
    elif mutation == "add":
        message[stray if stray not in message else stray + "_x"] = value
    elif mutation == "replace":
        message[key] = value
    else:
        message["slots"] = {"topic": slot_text}
    if is_valid_message(message) and message.get("device_id") == target.family.device_id:
        return  # still a valid message from this toy: not malformed input
    before = dump_tables(target.db)
    response = target.send("POST", "/api/v1/intent", json.dumps(message).encode(),
                           "application/json", signed=True)
    check(target, "POST", "/api/v1/intent", response, before)
    assert response.status_code in (401, 413, 422)


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS
                                              if op[1] != "/api/v1/pair"])
@FUZZ
@given(header=st.sampled_from([signing.HEADER_DEVICE, signing.HEADER_TIMESTAMP,
                               signing.HEADER_NONCE, signing.HEADER_SIGNATURE]),
       text=HEADER_TEXT)
def test_mangled_signature_headers(target: Target, method: str, path: str, header: str,
                                   text: str) -> None:
    body = json.dumps(target.valid_message()).encode() if method == "POST" else b""
    genuine = target.family.sign(method, path, body)
    if genuine[header] == text:
        return
    before = dump_tables(target.db)
    response = target.send(method, path, body, "application/json", signed=True,
                           header_overrides={header: text})
    check(target, method, path, response, before)
    assert response.status_code == 401
