"""The toy retries an intent the cloud may have stored without the toy hearing so, with the same
message_id, and the child hears the one stored reply (issue 26, item 12).

A relay between the toy and a real cloud (gunicorn) forwards the toy's first intent, so the
cloud stores it, and then loses the answer: it drops the connection, or answers what the cloud
answers when its database went away during the COMMIT (a 503 "outcome_unknown", signed with
the toy's key as the cloud signs it). Negative control: the same toy against a cloud with
`dedupe_retries` off stores the intent twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests
from cloud_helpers import add_child, add_parent, grant
from rewriting_relay import HOP_BY_HOP, RewritingRelay, pass_through

from cloud import pairing
from cloud.storage.db import open_db
from device.privacy.gate import MAX_DELIVERY_ATTEMPTS, EgressGate
from device.state import ToyState
from teddy.cloud_process import CloudProcess
from teddy.contracts import signing

INTENT_PATH = "/api/v1/intent"


class LosingRelay(RewritingRelay):
    """Forwards everything; the answers to the first `lose` intents never reach the toy."""

    def __init__(self, upstream_url: str, *, lose: int, how: str) -> None:
        super().__init__(upstream_url, pass_through)
        self.lose, self.how = lose, how
        self.secret: str | None = None

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path != INTENT_PATH or self.lose <= 0:
            super()._forward(handler)
            return
        self.lose -= 1
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        self.sent_upstream.append((handler.command, handler.path, body))
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        stored = requests.post(self.upstream_url + handler.path, data=body, headers=headers,
                               timeout=10)
        assert stored.status_code == 200, stored.text  # the cloud did store it
        if self.how == "drop":
            handler.close_connection = True  # no status line at all: the toy sees a drop
            return
        assert self.secret is not None
        content = json.dumps({"error": "the cloud's database stopped answering while storing "
                              "this; it may or may not have been stored, retry shortly",
                              "code": "outcome_unknown", "retry_after_s": 1}).encode()
        handler.send_response(503)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(content)))
        handler.send_header(signing.HEADER_REPLY_SIGNATURE, signing.reply_signature(
            self.secret, 503, handler.headers[signing.HEADER_NONCE],
            handler.headers[signing.HEADER_TIMESTAMP], content))
        handler.end_headers()
        handler.wfile.write(content)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


def _pairing_code(cloud: CloudProcess) -> str:
    db = open_db(cloud.db_path)
    try:
        now = time.time()
        parent_id = add_parent(db, f"retry-{now}@example.com", now)
        child_id = add_child(db, parent_id, now)
        grant(db, parent_id, child_id, ["core", "history"], now)
        return pairing.issue_code(db, child_id, now)
    finally:
        db.close()


def _history_rows(cloud: CloudProcess, device_id: str) -> int:
    db = open_db(cloud.db_path, migrate_schema=False)
    try:
        return int(db.execute("SELECT COUNT(*) FROM intent_events WHERE device_id = ?",
                              [device_id]).fetchone()[0])
    finally:
        db.close()


def _paired_toy(cloud: CloudProcess, relay: LosingRelay, tmp_path: Path) -> EgressGate:
    """A toy paired through the relay (pairing passes untouched); the relay learns the toy's
    key so that it can sign the cloud's 503 as the cloud would."""
    state = ToyState(tmp_path / "toy")
    gate = EgressGate(state)
    gate.pair(relay.url, _pairing_code(cloud))
    credentials: dict[str, Any] = state.read_json("credentials.json") or {}
    relay.secret = str(credentials["secret"])
    return gate


def _tell_story(gate: EgressGate) -> Any:
    decision = gate.decide("tell_story", {"topic": "dragons"}, "en")
    assert decision.message is not None, decision.reason
    return decision.message, gate.deliver(decision.message)


@pytest.mark.slow("starts a gunicorn cloud and a relay, pairs a toy")
@pytest.mark.parametrize("how", ["drop", "outcome_unknown"])
def test_a_lost_answer_is_retried_with_the_same_message_and_stored_once(
        cloud: CloudProcess, tmp_path: Path, how: str) -> None:
    with LosingRelay(cloud.url, lose=1, how=how) as relay:
        gate = _paired_toy(cloud, relay, tmp_path)
        message, delivery = _tell_story(gate)
        assert delivery.status == 200 and delivery.reply, delivery
        sent = [body for _method, path, body in relay.sent_upstream if path == INTENT_PATH]
        assert sent == [message.to_body()] * 2  # the same message, id and all, twice
        assert _history_rows(cloud, message.device_id) == 1
        # The reply the child heard is the one the cloud stored: sending the message once
        # more gives it again, and still stores nothing new.
        assert gate.deliver(message).reply == delivery.reply
    assert _history_rows(cloud, message.device_id) == 1


@pytest.mark.slow("starts a gunicorn cloud and a relay, pairs a toy")
@pytest.mark.alone("bounds the retries' wall time at 5 s")
def test_retries_are_bounded(cloud: CloudProcess, tmp_path: Path) -> None:
    with LosingRelay(cloud.url, lose=10, how="drop") as relay:
        gate = _paired_toy(cloud, relay, tmp_path)
        started = time.monotonic()
        _message, delivery = _tell_story(gate)
        elapsed = time.monotonic() - started
    assert delivery.status is None and delivery.reply is None  # answered on the toy
    sent = [path for _method, path, _body in relay.sent_upstream if path == INTENT_PATH]
    assert len(sent) == MAX_DELIVERY_ATTEMPTS
    assert elapsed < 5.0


@pytest.mark.slow("starts a second gunicorn cloud without the dedupe")
def test_negative_control_a_cloud_without_the_dedupe_stores_the_retry_twice(
        tmp_path: Path) -> None:
    with CloudProcess(tmp_path / "cloud.db", env={"TEDDY_DEDUPE_RETRIES": "false"}) as plain:
        with LosingRelay(plain.url, lose=1, how="drop") as relay:
            gate = _paired_toy(plain, relay, tmp_path)
            message, delivery = _tell_story(gate)
        assert delivery.status == 200
        assert _history_rows(plain, message.device_id) == 2


@pytest.mark.slow("starts a gunicorn cloud and a relay, pairs a toy")
def test_a_refused_connection_sent_nothing_and_is_not_retried(
        cloud: CloudProcess, tmp_path: Path) -> None:
    with LosingRelay(cloud.url, lose=0, how="drop") as relay:
        gate = _paired_toy(cloud, relay, tmp_path)
    # The relay is gone: its port refuses connections.
    _message, delivery = _tell_story(gate)
    assert delivery.status is None
    intents = [e for e in gate.ledger.entries() if e.path == INTENT_PATH]
    assert len(intents) == 1
