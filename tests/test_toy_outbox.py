"""A toy killed between the cloud's commit and the answer learns on its next start what became
of the intent, by its message_id, and the cloud holds it once (issue 26, item 12).

Real processes: a gunicorn cloud (SQLite and PostgreSQL), a relay that forwards the toy's
intent and holds back the cloud's answer, and a toy process (tests/outbox_toy.py) killed with
SIGKILL while it waits. Negative controls: a toy without the outbox never learns the outcome; a
toy that sends the intent again with a new message_id stores it twice. Both are caught by the
same check the honest toy passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from cloud_helpers import add_child, add_parent, grant
from rewriting_relay import HOP_BY_HOP, RewritingRelay, pass_through

from cloud import consent, pairing
from cloud.storage.db import open_db, write_transaction
from device.privacy.gate import (
    EXPIRED,
    NOT_STORED,
    OUTCOME_PATH,
    REFUSED,
    STORED,
    WITHDRAWN,
    EgressGate,
)
from device.privacy.ledger import LEDGER_FILE, EgressLedger
from device.privacy.outbox import ASK_AFTER_S, ASK_WITHIN_S, OUTBOX_FILE, Outbox
from device.privacy.policy import POLICY_FILE
from device.state import ToyState
from device.toy_status import toy_status, unpair
from teddy.cloud_process import CloudProcess

INTENT_PATH = "/api/v1/intent"
TOY_SCRIPT = Path(__file__).with_name("outbox_toy.py")


class SwallowingRelay(RewritingRelay):
    """Forwards everything; the first `swallow` intents reach the cloud (which stores them and
    answers), but their answers are held back until the relay closes. With `forward=False`
    they never reach the cloud at all."""

    def __init__(self, upstream_url: str, *, swallow: int, forward: bool = True) -> None:
        super().__init__(upstream_url, pass_through)
        self.swallow, self.forward = swallow, forward
        self.committed = threading.Event()
        self.released = threading.Event()
        self.upstream_statuses: list[int] = []

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path != INTENT_PATH or self.swallow <= 0:
            super()._forward(handler)
            return
        self.swallow -= 1
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.sent_upstream.append((handler.command, handler.path, body))
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        if self.forward:
            answer = requests.post(self.upstream_url + handler.path, data=body,
                                   headers=headers, timeout=10)
            self.upstream_statuses.append(answer.status_code)
        self.committed.set()
        self.released.wait(30)
        handler.close_connection = True

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        super().__exit__(*exc)  # type: ignore[misc]


@dataclass
class Family:
    parent_id: int
    child_id: int


def _family(cloud: CloudProcess, purposes: tuple[str, ...]) -> tuple[Family, str]:
    db = open_db(cloud.db_path)
    try:
        now = time.time()
        parent_id = add_parent(db, f"outbox-{now}@example.com", now)
        child_id = add_child(db, parent_id, now)
        grant(db, parent_id, child_id, purposes, now)
        return Family(parent_id, child_id), pairing.issue_code(db, child_id, now)
    finally:
        db.close()


def _count(cloud: CloudProcess, table: str, device_id: str) -> int:
    db = open_db(cloud.db_path, migrate_schema=False)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE device_id = ?",
                              [device_id]).fetchone()[0])
    finally:
        db.close()


def _toy(state: Path, *args: str, control: str = "", later_s: float = 0.0
         ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(TOY_SCRIPT), str(state), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TEDDY_OUTBOX_CONTROL": control,
                                 "TEDDY_TOY_CLOCK_OFFSET_S": str(later_s)})


def _run_toy(state: Path, *args: str, control: str = "",
             later_s: float = ASK_AFTER_S + 5) -> dict[str, object]:
    """Run the toy to its end; by default its clock says it restarted `later_s` after now,
    as a toy rebooting after a power cut does (a message is asked about only then)."""
    process = _toy(state, *args, control=control, later_s=later_s)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def _killed_while_waiting(relay: SwallowingRelay, state: Path, *tell: str,
                          control: str = "") -> str:
    """Start a toy sending one intent; SIGKILL it once the cloud has answered the relay (the
    intent is committed) and before the answer reached the toy. The message's id."""
    toy = _toy(state, "tell", *tell, control=control)
    try:
        assert toy.stdout is not None
        message_id = json.loads(toy.stdout.readline())["message_id"]
        assert relay.committed.wait(20), "the intent never reached the cloud"
        toy.send_signal(signal.SIGKILL)
        toy.wait(10)
    finally:
        if toy.poll() is None:
            toy.kill()
            toy.wait(10)
    assert toy.returncode == -signal.SIGKILL
    return message_id


def _paired(cloud: CloudProcess, relay: SwallowingRelay, state: Path,
            purposes: tuple[str, ...] = ("core", "history")) -> tuple[EgressGate, Family]:
    family, code = _family(cloud, purposes)
    gate = EgressGate(ToyState(state))
    gate.pair(relay.url, code)
    return gate, family


@dataclass(frozen=True)
class AfterRestart:
    stored: int  # history rows for the message's device
    last_status: int | None  # the ledger's answer to the last try of the message
    outcome: str | None  # and what the toy learnt became of it
    pending: int


def _crash_and_restart(cloud: CloudProcess, tmp_path: Path, control: str = "") -> AfterRestart:
    state = tmp_path / "toy"
    with SwallowingRelay(cloud.url, swallow=1) as relay:
        gate, _family_ = _paired(cloud, relay, state)
        message_id = _killed_while_waiting(relay, state, "tell_story", "topic=dragons",
                                           control=control)
        assert relay.upstream_statuses == [200]  # the cloud stored it and answered
        device_id = gate.device_id
        assert device_id is not None
        started = _run_toy(state, "start", control=control)
        assert started["pending"] == 0, started
    tries = [e for e in EgressLedger(ToyState(state)).entries()
             if e.path == INTENT_PATH and message_id in e.body]
    return AfterRestart(_count(cloud, "intent_events", device_id),
                        tries[-1].status if tries else None,
                        tries[-1].outcome if tries else None,
                        int(started["pending"]))  # type: ignore[arg-type]


def _settled_once(after: AfterRestart) -> bool:
    """The check: after the restart the toy knows the answer and the cloud holds one intent."""
    return after == AfterRestart(stored=1, last_status=200, outcome=STORED, pending=0)


@pytest.fixture
def cloud(cloud_db_path: str, tmp_path: Path) -> Iterator[CloudProcess]:
    with CloudProcess(cloud_db_path, extra_args=["--workers", "1"],
                      log_path=tmp_path / "cloud.log") as server:
        yield server


@pytest.mark.slow("a gunicorn cloud, a relay and two toy processes, one killed")
@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_a_toy_killed_before_the_answer_asks_on_start_and_the_intent_is_stored_once(
        cloud: CloudProcess, tmp_path: Path) -> None:
    after = _crash_and_restart(cloud, tmp_path)
    assert _settled_once(after), after
    # The cloud answered from its record of answered messages; the question carried only
    # the message id (the topic crossed the wire once).
    assert _count_processed(cloud, tmp_path) == 1
    questions = [e for e in EgressLedger(ToyState(tmp_path / "toy")).entries()
                 if e.path == OUTCOME_PATH]
    assert [(q.status, q.purpose) for q in questions] == [(200, "outcome-check")]
    assert "dragons" not in questions[0].body


def _count_processed(cloud: CloudProcess, tmp_path: Path) -> int:
    credentials = ToyState(tmp_path / "toy").read_json("credentials.json") or {}
    return _count(cloud, "processed_messages", str(credentials["device_id"]))


@pytest.mark.slow("a gunicorn cloud, a relay and two toy processes, one killed")
@pytest.mark.parametrize("control, expected", [
    ("no-outbox", AfterRestart(stored=1, last_status=None, outcome=None, pending=0)),
    ("new-message-id", AfterRestart(stored=2, last_status=None, outcome=None, pending=0)),
])
@pytest.mark.backends("sqlite")
def test_negative_controls_fail_the_check(cloud: CloudProcess, tmp_path: Path, control: str,
                                          expected: AfterRestart) -> None:
    after = _crash_and_restart(cloud, tmp_path, control)
    assert after == expected
    assert not _settled_once(after)


@pytest.mark.slow("a gunicorn cloud, a relay and two toy processes, one killed")
@pytest.mark.backends("sqlite")
def test_after_a_withdrawal_nothing_waiting_is_sent_and_the_cloud_refuses_it_anyway(
        cloud: CloudProcess, tmp_path: Path) -> None:
    purposes = ("core", "history", "personalisation")
    stale, fresh = tmp_path / "stale", tmp_path / "fresh"
    with SwallowingRelay(cloud.url, swallow=2) as relay:
        families = []
        for state in (stale, fresh):
            families.append(_paired(cloud, relay, state, purposes)[1])
            relay.committed.clear()
            _killed_while_waiting(relay, state, "share_name", "child_name=emma")
        assert relay.upstream_statuses == [200, 200]
        db = open_db(cloud.db_path)
        try:
            with write_transaction(db):
                for family in families:
                    consent.revoke(db, child_id=family.child_id, parent_id=family.parent_id,
                                   purpose="personalisation", now=time.time())
        finally:
            db.close()
        relay.sent_upstream.clear()
        # A toy that starts as `teddy device listen` does asks for the policy first: it
        # learns of the withdrawal and sends nothing it held.
        assert _run_toy(fresh, "start")["pending"] == 0
        assert relay.sent_upstream == [("GET", "/api/v1/policy", b"")]
        outcomes = [e.outcome for e in EgressLedger(ToyState(fresh)).entries()
                    if e.path == INTENT_PATH]
        assert outcomes == [WITHDRAWN]
        # A toy still holding the old policy, told the name again, first asks about the
        # waiting message (by id alone, so the name does not cross the wire); the cloud
        # refuses to repeat the answer (403) and its signed policy stops the new message too.
        relay.sent_upstream.clear()
        told = _run_toy(stale, "tell", "share_name", "child_name=emma")
        assert told == {"status": None, "reply": None}
        assert [path for _m, path, _b in relay.sent_upstream] == [OUTCOME_PATH]
        assert b"emma" not in b"".join(body for _m, _p, body in relay.sent_upstream)
        tries = [e for e in EgressLedger(ToyState(stale)).entries() if e.path == INTENT_PATH]
        assert [(e.status, e.outcome) for e in tries] == [(None, REFUSED)]  # one try only
        asked = [e for e in EgressLedger(ToyState(stale)).entries() if e.path == OUTCOME_PATH]
        assert [e.status for e in asked] == [403]
    assert not ToyState(stale).path(OUTBOX_FILE).exists()


@pytest.mark.slow("a gunicorn cloud and a relay")
@pytest.mark.backends("sqlite")
def test_past_the_window_a_message_is_dropped_and_ledgered_as_unknown(
        cloud: CloudProcess, tmp_path: Path) -> None:
    state = tmp_path / "toy"
    with SwallowingRelay(cloud.url, swallow=1) as relay:
        _paired(cloud, relay, state)
        _killed_while_waiting(relay, state, "tell_story", "topic=dragons")
        relay.sent_upstream.clear()
        later = EgressGate(ToyState(state), clock=lambda: time.time() + ASK_WITHIN_S)
        assert later.ask_about_pending() == 0
        assert relay.sent_upstream == []
        # A clock set back (a Pi without a clock chip) is no proof the message is young.
        assert later.outbox.pending() == []
    tries = [e for e in EgressLedger(ToyState(state)).entries() if e.path == INTENT_PATH]
    assert [(e.status, e.outcome) for e in tries] == [(None, EXPIRED)]
    shown = subprocess.run([sys.executable, "-m", "teddy", "device", "ledger", "--state",
                            str(state)], capture_output=True, text=True, timeout=60)
    assert f"outcome: {EXPIRED}" in shown.stdout, shown.stdout


@pytest.mark.slow("a gunicorn cloud and a relay")
@pytest.mark.backends("sqlite")
def test_a_damaged_outbox_is_set_aside_with_a_clear_notice_and_nothing_else_changes(
        cloud: CloudProcess, tmp_path: Path) -> None:
    state = tmp_path / "toy"
    with SwallowingRelay(cloud.url, swallow=0) as relay:
        _paired(cloud, relay, state)
        toy_state = ToyState(state)
        toy_state.path(OUTBOX_FILE).write_text('{"pending": [{"message_id": "ab')
        kept = {name: toy_state.path(name).read_bytes()
                for name in ("credentials.json", POLICY_FILE, LEDGER_FILE)}
        status = toy_status(toy_state)
        assert "outbox.json is damaged" in str(status.notice)
        started = _run_toy(state, "start", "--stale-policy")
        assert "outbox.json is damaged" in str(started["notice"])
        assert "set aside as outbox.json.damaged" in str(started["notice"])
        assert toy_state.path(OUTBOX_FILE + ".damaged").read_text() == \
            '{"pending": [{"message_id": "ab'
        assert {name: toy_state.path(name).read_bytes() for name in kept} == kept
        # The toy goes on: the next intent is sent, answered and leaves the outbox empty.
        told = _run_toy(state, "tell", "tell_story", "topic=dragons")
        assert told["status"] == 200
        assert Outbox(toy_state).pending() == []
        # Unpairing removes the set-aside file with the rest.
        removed = {kept_file.name for kept_file in unpair(toy_state)}
        assert OUTBOX_FILE + ".damaged" in removed


@pytest.mark.slow("a gunicorn cloud, a relay and two toy processes, one killed")
@pytest.mark.backends("sqlite")
def test_a_message_that_never_reached_the_cloud_is_not_sent_later(
        cloud: CloudProcess, tmp_path: Path) -> None:
    """The toy is killed while its request is held before the cloud: on start it learns the
    cloud has no record, and the intent is never sent again (the toy keeps nothing to send
    later, R03)."""
    state = tmp_path / "toy"
    with SwallowingRelay(cloud.url, swallow=1, forward=False) as relay:
        gate, _family_ = _paired(cloud, relay, state)
        message_id = _killed_while_waiting(relay, state, "tell_story", "topic=pirates")
        relay.sent_upstream.clear()
        assert _run_toy(state, "start")["pending"] == 0
        assert [path for _m, path, _b in relay.sent_upstream] == ["/api/v1/policy",
                                                                  OUTCOME_PATH]
        assert b"pirates" not in b"".join(body for _m, _p, body in relay.sent_upstream)
    tries = [e for e in EgressLedger(ToyState(state)).entries()
             if e.path == INTENT_PATH and message_id in e.body]
    assert [(e.status, e.outcome) for e in tries] == [(None, NOT_STORED)]
    assert gate.device_id is not None
    assert _count(cloud, "intent_events", gate.device_id) == 0


@pytest.mark.slow("a gunicorn cloud, a relay and two toy processes, one killed")
@pytest.mark.backends("sqlite")
def test_a_message_is_asked_about_only_once_no_try_can_still_be_running(
        cloud: CloudProcess, tmp_path: Path) -> None:
    """Restarted at once, the toy leaves the message pending (a try could still commit in the
    cloud after a "no record" answer); restarted later it asks."""
    state = tmp_path / "toy"
    with SwallowingRelay(cloud.url, swallow=1) as relay:
        _paired(cloud, relay, state)
        _killed_while_waiting(relay, state, "tell_story", "topic=dragons")
        relay.sent_upstream.clear()
        assert _run_toy(state, "start", later_s=0)["pending"] == 1
        assert OUTCOME_PATH not in [path for _m, path, _b in relay.sent_upstream]
        assert _run_toy(state, "start")["pending"] == 0
        assert OUTCOME_PATH in [path for _m, path, _b in relay.sent_upstream]
