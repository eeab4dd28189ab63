"""Simulated toys for the benchmark: real families, consents and pairings in the bench DB."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass

from cloud import consent, pairing
from cloud.storage.db import open_db
from teddy.contracts import signing

BENCH_PURPOSES = ("core", "personalisation", "history")
# A realistic mix: plain requests, requests that update the profile, and personalised stories.
MESSAGES: tuple[tuple[str, dict[str, str | int]], ...] = (
    ("tell_story", {"topic": "dragons"}),
    ("tell_joke", {}),
    ("sing_song", {"song": "twinkle"}),
    ("share_favorite", {"kind": "animal", "value": "owl"}),
    ("animal_sound", {"animal": "cow"}),
    ("greet", {}),
)
INTENT_PATH = "/api/v1/intent"


@dataclass(frozen=True)
class BenchToy:
    device_id: str
    secret: str


@dataclass(frozen=True)
class PreparedRequest:
    path: str
    body: bytes
    headers: dict[str, str]

    def wire_bytes(self, host: str, port: int) -> bytes:
        """The whole HTTP/1.1 request, built once so the load generator only sends bytes."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host}:{port}",
                 f"Content-Length: {len(self.body)}",
                 *(f"{name}: {value}" for name, value in self.headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def create_toys(db_path: str, count: int) -> list[BenchToy]:
    db = open_db(db_path)
    now = time.time()
    toys = []
    for n in range(count):
        parent_id = db.execute(
            "INSERT INTO parents (email, password_hash, created_at) VALUES (?, ?, ?) RETURNING id",
            [f"bench-{n}-{secrets.token_hex(4)}@example.invalid", "!unusable", now],
        ).fetchone()[0]
        child_id = db.execute(
            "INSERT INTO children (parent_id, first_name, age_band, country, created_at, "
            "last_active_at) VALUES (?, NULL, '6-8', 'US', ?, ?) RETURNING id",
            [parent_id, now, now],
        ).fetchone()[0]
        assert parent_id is not None and child_id is not None
        for purpose in BENCH_PURPOSES:
            consent.grant(db, child_id=child_id, parent_id=parent_id, purpose=purpose,
                          notice_version=1, method="signed_form", now=now)
        paired = pairing.redeem(db, pairing.issue_code(db, child_id, now), now)
        assert paired is not None
        toys.append(BenchToy(paired[0], paired[1]))
    db.close()
    return toys


def _message(toy: BenchToy, index: int) -> bytes:
    intent, slots = MESSAGES[index % len(MESSAGES)]
    return json.dumps({
        "message_id": uuid.uuid4().hex, "device_id": toy.device_id, "sent_at": int(time.time()),
        "locale": "en", "intent": intent, "slots": slots, "policy_version": 0,
    }).encode("utf-8")


def signed_requests(toy: BenchToy, count: int) -> list[PreparedRequest]:
    prepared = []
    for i in range(count):
        body = _message(toy, i)
        headers = {"Content-Type": "application/json",
                   **signing.sign_headers(toy.device_id, toy.secret, "POST", INTENT_PATH, body)}
        prepared.append(PreparedRequest(INTENT_PATH, body, headers))
    return prepared


def bare_requests(toy: BenchToy, count: int) -> list[PreparedRequest]:
    return [PreparedRequest("/insert", _message(toy, i), {"Content-Type": "application/json"})
            for i in range(count)]
