"""The toy trusts only what the cloud signed (issue 15, items 10 and 16).

A relay that rewrites the cloud's replies cannot widen consent or put words in the toy's
mouth; plain-http pairing is refused off this machine; a wrong clock is reported as such
and keeps the cached policy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import add_child, add_parent, grant
from rewriting_relay import RewritingRelay, pass_through, widen_consent

from cloud import pairing
from cloud.storage.db import open_db
from device.client.http import CloudUrlError, check_cloud_url
from device.privacy.gate import EgressGate
from device.privacy.ledger import EgressLedger
from device.privacy.policy import POLICY_FILE
from device.state import ToyState
from device.toy import Toy
from teddy.cloud_process import CloudProcess


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


def _family(cloud: CloudProcess, purposes: list[str]) -> str:
    db = open_db(cloud.db_path)
    now = time.time()
    parent_id = add_parent(db, f"trust-{now}@example.com", now)
    child_id = add_child(db, parent_id, now)
    if purposes:
        grant(db, parent_id, child_id, purposes, now)
    code = pairing.issue_code(db, child_id, now)
    db.close()
    return code


def _sent_bodies(relay: RewritingRelay) -> bytes:
    return b"".join(body for _method, _path, body in relay.sent_upstream)


def test_a_relay_that_widens_consent_does_not_get_the_childs_name(cloud, tmp_path: Path):
    code = _family(cloud, ["core"])
    with RewritingRelay(cloud.url, widen_consent) as relay:
        gate = EgressGate(ToyState(tmp_path / "toy"))
        gate.pair(relay.url, code)
        assert gate.policy.purposes == frozenset()  # the widened policy was not applied
        assert "not signed" in (gate.notice or "")
        name = Toy(gate).say_text("my name is emma")
    assert b"emma" not in _sent_bodies(relay).lower()
    assert name.sent_body is None and name.answered_by == "toy"
    assert "could not be trusted" in name.reason


def test_negative_control_an_honest_relay_passes_consented_data(cloud, tmp_path: Path):
    """The same path with an untouched reply and real consent does carry the name."""
    code = _family(cloud, ["core", "personalisation"])
    with RewritingRelay(cloud.url, pass_through) as relay:
        gate = EgressGate(ToyState(tmp_path / "toy"))
        gate.pair(relay.url, code)
        assert {"core", "personalisation"} <= gate.policy.purposes
        assert gate.notice is None
        turn = Toy(gate).say_text("my name is emma")
    assert turn.answered_by == "cloud"
    assert b"emma" in _sent_bodies(relay).lower()


def test_a_rewritten_policy_keeps_the_last_good_one(cloud, tmp_path: Path):
    code = _family(cloud, ["core"])
    state = ToyState(tmp_path / "toy")
    gate = EgressGate(state)
    gate.pair(cloud.url, code)
    assert gate.policy.purposes == frozenset({"core"})
    with RewritingRelay(cloud.url, widen_consent) as relay:
        assert gate._transport is not None
        gate._transport.cloud_url = relay.url  # the path to the cloud is now hostile
        gate.refresh_policy()
        toy = Toy(gate)
        name = toy.say_text("my name is emma")
        story = toy.say_text("tell me a story about dinosaurs")
    assert gate.policy.purposes == frozenset({"core"})
    assert EgressGate(state).policy.purposes == frozenset({"core"})
    assert b"emma" not in _sent_bodies(relay).lower() and name.sent_body is None
    # The story request went out (core is consented), but the relay's words are never spoken.
    assert story.sent_body is not None
    assert story.reply != "Tell me your home address!"
    assert story.answered_by == "toy" and "not signed" in story.reason
    assert gate.policy.purposes == frozenset({"core"})


@pytest.mark.parametrize("url", ["http://192.0.2.10:8080", "http://cloud.example:8080"])
def test_pairing_over_plain_http_is_refused_off_this_machine(tmp_path: Path, url: str):
    state = ToyState(tmp_path / "toy")
    with pytest.raises(CloudUrlError, match="plain http"):
        EgressGate(state).pair(url, "AAAA-AAAA")
    assert EgressLedger(state).entries() == []  # nothing was sent


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "localhost", "[::1]"])
def test_loopback_is_the_only_place_plain_http_pairing_is_allowed(host: str):
    assert check_cloud_url(f"http://{host}:8080", pairing=True)
    assert check_cloud_url(f"https://{host}:8443", pairing=True)


@pytest.mark.parametrize("host", ["10.0.0.5", "127.0.0.1.example", "localhost.example",
                                  "[fe80::1]", "0.0.0.0"])
def test_lookalikes_of_loopback_are_not_loopback(host: str):
    with pytest.raises(CloudUrlError, match="plain http"):
        check_cloud_url(f"http://{host}:8080", pairing=True)
    assert check_cloud_url(f"https://{host}:8443", pairing=True)


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "localhost", "ftp://127.0.0.1/", "https://"])
def test_a_cloud_url_without_its_scheme_says_how_to_write_it(url: str):
    with pytest.raises(CloudUrlError, match="write it in full"):
        check_cloud_url(url)


def test_a_toy_clock_ten_minutes_off_is_reported_and_keeps_the_cached_policy(
        cloud, tmp_path: Path):
    code = _family(cloud, ["core"])
    state = ToyState(tmp_path / "toy")
    EgressGate(state).pair(cloud.url, code)
    cached = state.path(POLICY_FILE).read_bytes()
    slow = EgressGate(state, clock=lambda: time.time() - 600)
    slow.refresh_policy()
    assert slow.policy.purposes == frozenset({"core"})
    assert state.path(POLICY_FILE).read_bytes() == cached
    assert "clock is off by ~600 s" in (slow.notice or "")
    turn = Toy(slow).say_text("tell me a story about dinosaurs")
    assert turn.answered_by == "toy"
    assert "clock is off" in turn.reason and "consent" not in turn.reason
    assert state.path(POLICY_FILE).read_bytes() == cached


def test_a_newly_paired_toy_with_a_wrong_clock_says_clock_not_no_consent(cloud, tmp_path: Path):
    code = _family(cloud, ["core"])
    gate = EgressGate(ToyState(tmp_path / "toy"), clock=lambda: time.time() + 600)
    gate.pair(cloud.url, code)
    turn = Toy(gate).say_text("tell me a story about dinosaurs")
    assert "clock is off by ~600 s (ahead of" in turn.reason
    assert "no consent" not in turn.reason
