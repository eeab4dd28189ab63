"""Which requests a toy may send, read back from captured bytes (R03): the allowed paths, an
unpair that carries nothing, and intents that are small, valid messages."""

from __future__ import annotations

import json
import uuid

from scenarios.checks.wire import request_problems
from scenarios.wire import parse_requests


def _request(method: str, path: str, body: bytes = b"",
             content_type: str = "application/json") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: cloud\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _intent() -> bytes:
    return json.dumps({"message_id": uuid.uuid4().hex, "device_id": "toy-" + "a" * 32,
                       "sent_at": 1_700_000_000, "locale": "en", "intent": "greet",
                       "slots": {}, "policy_version": 1}).encode()


def test_a_toys_whole_life_on_the_wire_is_allowed() -> None:
    captured = b"".join([_request("POST", "/api/v1/pair", b'{"code": "ABCD-EF23"}'),
                         _request("GET", "/api/v1/policy"),
                         _request("POST", "/api/v1/intent", _intent()),
                         _request("POST", "/api/v1/unpair")])
    assert request_problems(parse_requests(captured)) == []


def test_negative_controls_an_unpair_with_a_body_and_an_undeclared_path_are_flagged() -> None:
    captured = b"".join([_request("POST", "/api/v1/unpair", b'{"transcript": "my name is"}'),
                         _request("POST", "/api/v1/telemetry", b"{}"),
                         _request("POST", "/api/v1/intent", b'{"audio": "UklGRg=="}')])
    problems = request_problems(parse_requests(captured))
    assert len(problems) == 3, problems
    assert "unpair request carried a 28-byte body" in problems[0]
    assert "/api/v1/telemetry is not an allowed request" in problems[1]
    assert "intent body breaks the schema" in problems[2]


def test_a_question_about_a_messages_outcome_carries_its_id_and_nothing_else() -> None:
    asked = _request("POST", "/api/v1/intent/outcome",
                     json.dumps({"message_id": uuid.uuid4().hex}).encode())
    assert request_problems(parse_requests(asked)) == []
    # Negative control: a toy that sends the whole message again to the outcome path.
    resent = _request("POST", "/api/v1/intent/outcome", _intent())
    problems = request_problems(parse_requests(resent))
    assert problems == ["a question about a message's outcome carried more than its id"]
