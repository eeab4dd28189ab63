"""The toy's egress gate against the real cloud process, with every byte on the wire recorded.

Rules R01-R06: no audio of any kind, nothing before consent, no name without consent, no
location ever, and a cloud outage leaves nothing queued.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import add_child, add_parent, grant

from cloud import consent, pairing
from cloud.storage.db import open_db
from device.audio.wav import load_wav_pcm16
from device.privacy.gate import EgressGate
from device.privacy.ledger import EgressLedger
from device.state import ToyState
from device.toy import Toy
from scenarios.relay import Relay
from teddy.audio_check import find_audio_signatures
from teddy.cloud_process import CloudProcess

DEMO_CLIPS = Path(__file__).resolve().parent.parent / "audio_fixtures" / "demo"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


def _new_family(db_path: str, email: str) -> tuple[int, int, str]:
    """A parent and child with no consent yet, and a pairing code for their toy."""
    db = open_db(db_path)
    now = time.time()
    parent_id = add_parent(db, email, now)
    child_id = add_child(db, parent_id, now)
    code = pairing.issue_code(db, child_id, now)
    db.close()
    return parent_id, child_id, code


def _consent(db_path: str, parent_id: int, child_id: int, purposes: list[str]) -> None:
    db = open_db(db_path)
    grant(db, parent_id, child_id, purposes, time.time())
    db.close()


@pytest.fixture
def paired_toy(cloud: CloudProcess, tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[tuple[Toy, Relay, int, int]]:
    parent_id, child_id, code = _new_family(cloud.db_path, f"{request.node.name}@example.com")
    with Relay(cloud.host, cloud.port) as relay:
        gate = EgressGate(ToyState(tmp_path / "toy"))
        gate.pair(relay.url, code)
        yield Toy(gate), relay, parent_id, child_id


def _hear(toy: Toy, clip: str):  # type: ignore[no-untyped-def]
    return toy.hear(bytearray(load_wav_pcm16(DEMO_CLIPS / clip)))


def test_before_consent_the_toy_plays_offline_and_sends_nothing_about_the_child(paired_toy):
    toy, relay, _parent, _child = paired_toy
    relay.reset_capture()
    for clip in ["hello_teddy.wav", "my_name_is_emma.wav", "joke.wav"]:
        turn = _hear(toy, clip)
        assert turn.answered_by == "toy"
        assert turn.sent_body is None
        assert turn.reply
    assert relay.captured_upstream() == b""


def test_with_consent_only_a_small_intent_crosses_the_wire_and_no_audio(cloud, paired_toy):
    toy, relay, parent_id, child_id = paired_toy
    _consent(cloud.db_path, parent_id, child_id, ["core"])
    toy.gate.refresh_policy()
    relay.reset_capture()
    turn = _hear(toy, "story_dinosaurs.wav")
    wire = relay.captured_upstream()
    assert turn.answered_by == "cloud"
    assert turn.intent == "tell_story" and turn.slots == {"topic": "dinosaurs"}
    assert turn.sent_body is not None and turn.sent_body in wire
    assert len(turn.sent_body) <= 400
    assert find_audio_signatures(wire) == []
    assert b"dinosaurs" in wire and b"tell me" not in wire  # the intent, never the transcript


def test_a_name_leaves_only_with_personalisation_consent(cloud, paired_toy):
    toy, relay, parent_id, child_id = paired_toy
    _consent(cloud.db_path, parent_id, child_id, ["core"])
    toy.gate.refresh_policy()
    relay.reset_capture()
    turn = _hear(toy, "my_name_is_emma.wav")
    assert turn.intent == "share_name"
    assert turn.answered_by == "toy" and "child_name" in turn.dropped_slots
    assert b"emma" not in relay.captured_upstream().lower()

    _consent(cloud.db_path, parent_id, child_id, ["personalisation"])
    toy.gate.refresh_policy()
    turn = _hear(toy, "my_name_is_emma.wav")
    assert turn.answered_by == "cloud" and turn.personalised
    assert "Emma" in turn.reply
    assert b'"child_name":"emma"' in relay.captured_upstream()


def test_where_a_child_lives_never_leaves_even_with_every_consent(cloud, paired_toy):
    toy, relay, parent_id, child_id = paired_toy
    _consent(cloud.db_path, parent_id, child_id, ["core", "personalisation", "history"])
    toy.gate.refresh_policy()
    relay.reset_capture()
    turn = _hear(toy, "i_live_at.wav")
    assert turn.intent == "share_location"
    assert turn.answered_by == "toy"
    assert "secret" in turn.reply.lower()
    assert relay.captured_upstream() == b""


def test_cloud_unreachable_degrades_to_local_replies_and_queues_nothing(cloud, paired_toy):
    toy, relay, parent_id, child_id = paired_toy
    _consent(cloud.db_path, parent_id, child_id, ["core", "personalisation"])
    toy.gate.refresh_policy()
    relay.set_online(False)
    turn = _hear(toy, "favorite_animal_lion.wav")
    assert turn.answered_by == "toy" and turn.status is None
    relay.set_online(True)
    relay.reset_capture()
    _hear(toy, "hello_teddy.wav")
    wire = relay.captured_upstream()
    assert b"lion" not in wire  # nothing from the outage was queued and sent later


def test_revocation_reaches_the_toy_on_its_next_request(cloud, paired_toy):
    toy, relay, parent_id, child_id = paired_toy
    _consent(cloud.db_path, parent_id, child_id, ["core", "personalisation"])
    toy.gate.refresh_policy()
    db = open_db(cloud.db_path)
    consent.revoke(db, child_id=child_id, parent_id=parent_id, purpose="personalisation",
                   now=time.time())
    db.close()
    # The toy still holds the old policy; the cloud refuses and hands back the new one.
    turn = _hear(toy, "my_name_is_emma.wav")
    assert turn.status == 403 and turn.answered_by == "toy"
    assert "personalisation" not in toy.gate.policy.purposes
    relay.reset_capture()
    turn = _hear(toy, "my_name_is_emma.wav")
    assert turn.sent_body is None
    assert b"emma" not in relay.captured_upstream()


def test_every_request_is_in_the_egress_ledger(cloud, paired_toy, tmp_path):
    toy, relay, parent_id, child_id = paired_toy
    _consent(cloud.db_path, parent_id, child_id, ["core"])
    toy.gate.refresh_policy()
    _hear(toy, "joke.wav")
    entries = list(EgressLedger(ToyState(tmp_path / "toy")).entries())
    assert [e.path for e in entries] == ["/api/v1/pair", "/api/v1/policy", "/api/v1/policy",
                                         "/api/v1/intent"]
    assert "ABCD" not in entries[0].body and "<pairing code>" in entries[0].body
    intent_entry = entries[-1]
    assert json.loads(intent_entry.body)["intent"] == "tell_joke"
    assert intent_entry.purpose == "core" and intent_entry.status == 200
    # The ledger's bodies are exactly what the relay saw leave.
    assert intent_entry.body.encode() in relay.captured_upstream()
