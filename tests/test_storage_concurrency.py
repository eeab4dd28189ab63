"""Writers in several OS processes, each with its own connection, on both backends.

SQLite lets one writer in at a time; on PostgreSQL every transaction takes the writer
advisory lock (cloud.storage.postgres). These tests race real processes against one database
and check what must hold: the audit chain never forks, and once a consent revocation has
committed no intent is stored or answered under the revoked purpose.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import make_family
from concurrency_helpers import (
    append_audit_entries,
    append_without_the_writer_lock,
    revoke_history,
    send_intents,
)

from cloud import audit, consent
from cloud.storage.db import open_db

pytestmark = pytest.mark.backends("sqlite", "postgresql")
# Fresh processes forked from a clean server that has the cloud imported already (not from
# pytest, so nothing, no connection least of all, is inherited): each opens its own
# connection, as a gunicorn worker would, without paying Python's start-up every time.
SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload(["cloud.app", "cloud.audit", "cloud.parent_web.granting",
                              "concurrency_helpers"])
WORKERS = 3
APPENDS_EACH = 30
JOIN_S = 120


def _collect(results: Any, count: int) -> list[Any]:
    return [results.get(timeout=JOIN_S) for _ in range(count)]


def _run(processes: list[Any]) -> None:
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_S)
        assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"


def test_concurrent_appends_from_several_processes_never_fork_the_chain(
        cloud_db_path: str, cloud_backend: str) -> None:
    open_db(cloud_db_path).close()
    start, results = SPAWN.Barrier(WORKERS), SPAWN.Queue()
    processes = [SPAWN.Process(target=append_audit_entries,
                               args=(cloud_db_path, n, APPENDS_EACH, start, results))
                 for n in range(WORKERS)]
    _run(processes)
    reports = _collect(results, WORKERS)
    assert [errors for _worker, errors in reports] == [[]] * WORKERS
    db = open_db(cloud_db_path)
    try:
        check = audit.verify(db)
        assert check.ok, check.problem
        assert check.entries == WORKERS * APPENDS_EACH
        links = [r[0] for r in db.execute("SELECT prev_hash FROM audit_log")]
        assert len(set(links)) == len(links)
        if cloud_backend == "postgresql":
            # The workers really interleaved, not one after another (which would switch
            # WORKERS - 1 times). SQLite's busy handler tends to let one writer run in long
            # bursts, so there the race is only as fine-grained as SQLite allows.
            order = [r[0] for r in db.execute("SELECT subject FROM audit_log ORDER BY seq")]
            switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
            assert switches >= WORKERS
    finally:
        db.close()


def test_negative_control_appending_outside_a_write_transaction_would_fork(
        cloud_db_path: str) -> None:
    """Two processes read the same head and link to it: one link is refused by the unique
    index, so the chain still verifies; the lock above is what keeps that from happening."""
    open_db(cloud_db_path).close()
    read_done, results = SPAWN.Barrier(2), SPAWN.Queue()
    processes = [SPAWN.Process(target=append_without_the_writer_lock,
                               args=(cloud_db_path, n, read_done, results)) for n in range(2)]
    _run(processes)
    outcomes = sorted(outcome for _worker, outcome in _collect(results, 2))
    assert outcomes[1] == "linked"
    assert outcomes[0] in ("IntegrityError", "UniqueViolation")
    db = open_db(cloud_db_path)
    try:
        assert audit.verify(db).ok
    finally:
        db.close()


def _revocation_rows(db: Any) -> int:
    """intent_events rows the revocation's own erasure removed (from its audit entry)."""
    row = db.execute("SELECT details_json FROM audit_log WHERE action = ?",
                     ["consent.revoke.erase"]).fetchone()
    return int(json.loads(row[0])["rows"].get("intent_events", 0)) if row else 0


def kept_after_revocation(db: Any, child_id: int) -> int:
    """History rows of the child left once its "history" consent was revoked and erased:
    any such row was stored by an intent that committed after the revocation."""
    return int(db.execute("SELECT count(*) FROM intent_events WHERE child_id = ?",
                          [child_id]).fetchone()[0])


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_a_revocation_racing_intents_never_lets_one_through_after_it_committed(
        cloud_db_path: str, tmp_path: Path) -> None:
    secret_key = "race-" + tmp_path.name
    db = open_db(cloud_db_path)
    family = make_family(db, purposes=("core", "history"))
    senders = 3
    start, stop, results = SPAWN.Barrier(senders + 1), SPAWN.Event(), SPAWN.Queue()
    processes = [SPAWN.Process(target=send_intents,
                               args=(cloud_db_path, secret_key, family, start, stop, results))
                 for _ in range(senders)]
    processes.append(SPAWN.Process(target=revoke_history,
                                   args=(cloud_db_path, family, start, 0.5, results)))
    for process in processes:
        process.start()
    revoked_at: float | None = None
    replies: list[tuple[float, float, int, bool]] = []
    errors: list[str] = []
    deadline = time.monotonic() + JOIN_S
    for _ in range(senders + 1):
        kind, value = results.get(timeout=JOIN_S)
        if kind == "revoked":
            revoked_at = value
            time.sleep(0.5)  # let the senders go on for a while after it
            stop.set()
        elif kind == "replies":
            replies += value
        else:
            errors.append(value)
            stop.set()
    for process in processes:
        process.join(max(1.0, deadline - time.monotonic()))
    assert errors == []
    assert revoked_at is not None
    after = [r for r in replies if r[0] > revoked_at]
    before = [r for r in replies if r[1] < revoked_at]
    # Not vacuous: intents were answered on both sides of the revocation.
    assert len(after) >= senders and len(before) >= senders
    assert any(history for *_times, _status, history in before)
    assert {status for _s, _a, status, _h in replies} <= {200, 503}
    assert not [r for r in after if r[3]], "a reply after the revocation still had history"
    try:
        assert _revocation_rows(db) >= 1, "nothing was stored before the revocation"
        assert kept_after_revocation(db, family.child_id) == 0
        assert "history" not in consent.active_purposes(db, family.child_id, 1)
        assert audit.verify(db).ok
    finally:
        db.close()


def test_negative_control_a_consent_read_outside_the_write_transaction_is_caught(
        cloud_db_path: str) -> None:
    """The check above fails for a writer that decides on a consent read taken before the
    revocation committed and stores afterwards (what the one write transaction prevents)."""
    from cloud.parent_web.granting import revoke_all

    db, other = open_db(cloud_db_path), open_db(cloud_db_path)
    try:
        family = make_family(db, purposes=("core", "history"))
        _version, purposes = consent.current_policy(db, family.child_id, 1)
        assert "history" in purposes  # the stale decision
        revoke_all(other, child_id=family.child_id, parent_id=family.parent_id,
                   purposes=["history"], now=time.time())
        db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
                   "received_at, expires_at) VALUES (?, ?, 'greet', '{}', ?, ?)",
                   [family.child_id, family.device_id, time.time(), time.time() + 86400])
        assert kept_after_revocation(db, family.child_id) == 1
    finally:
        db.close()
        other.close()
