"""The audit log (R27): append-only, hash-chained, free of child content, checked by a command."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import sqlite_utils
from cloud_helpers import INTEGRITY_ERRORS, make_family

from cloud import audit, consent
from cloud.storage.db import connect, open_db, write_transaction


@pytest.fixture
def db_path(cloud_db_path: str) -> str:
    open_db(cloud_db_path).close()
    return cloud_db_path


def _entries(db: sqlite_utils.Database, n: int) -> None:
    for i in range(n):
        audit.append(db, at=1_700_000_000.5 + i, actor=audit.subject_ref("parent", 1),
                     action="consent.grant", subject=audit.subject_ref("child", 1),
                     details={"purpose": "history", "notice_version": 1})


def verify_command(db_path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "cloud", "verify-audit", "--db",
                           db_path], capture_output=True, text=True, timeout=60)


def _attacker(db_path: str) -> sqlite3.Connection:
    """Someone with the raw file: drops the append-only triggers and the chain's index."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DROP INDEX audit_log_one_successor")
    return conn


@pytest.mark.backends("sqlite", "postgresql")
def test_real_activity_is_logged_without_child_content(db_path: str) -> None:
    db = open_db(db_path)
    family = make_family(db, purposes=("core", "personalisation"), first_name="zelda",
                         email="zelda.parent@example.org")
    consent.revoke(db, child_id=family.child_id, parent_id=family.parent_id,
                   purpose="personalisation", now=time.time())
    actions = [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions == ["consent.grant", "consent.grant", "device.pair", "consent.revoke"]
    dump = " ".join(str(row) for row in db.execute("SELECT * FROM audit_log")).lower()
    assert "zelda" not in dump
    result = verify_command(db_path)
    assert result.returncode == 0, result.stderr
    assert "intact: 4 entries" in result.stdout


@pytest.mark.parametrize("tamper", [
    "UPDATE audit_log SET details_json = '{\"purpose\": \"core\"}' WHERE seq = 2",
    "UPDATE audit_log SET at = at + 1 WHERE seq = 3",
    "DELETE FROM audit_log WHERE seq = 2",
    "UPDATE audit_log SET seq = seq + 100 WHERE seq = 1",
    "INSERT INTO audit_log (at, actor, action, subject, details_json, prev_hash, hash) "
    "SELECT 1, 'system', 'erase', 'child:1', '{}', hash, hash FROM audit_log WHERE seq = 4",
])
@pytest.mark.backends("sqlite")  # a raw-file attacker: SQLite's
def test_tampering_is_detected_by_the_verify_command(db_path: str, tamper: str) -> None:
    db = open_db(db_path)
    _entries(db, 4)
    assert audit.verify(db).ok
    attacker = _attacker(db_path)
    attacker.execute(tamper)
    attacker.close()
    result = verify_command(db_path)
    assert result.returncode == 1
    assert "TAMPERED" in result.stdout


@pytest.mark.backends("sqlite")  # a raw-file attacker: SQLite's
def test_cutting_the_tail_is_caught_by_comparing_the_head(db_path: str) -> None:
    db = open_db(db_path)
    _entries(db, 3)
    head = audit.verify(db).head
    attacker = _attacker(db_path)
    attacker.execute("DELETE FROM audit_log WHERE seq = 3")
    attacker.close()
    after = audit.verify(db)
    assert after.ok and after.entries == 2
    assert after.head != head


@pytest.mark.backends("sqlite", "postgresql")
def test_the_log_refuses_updates_deletes_and_forks(db_path: str) -> None:
    db = open_db(db_path)
    _entries(db, 2)
    with pytest.raises(INTEGRITY_ERRORS):
        db.execute("UPDATE audit_log SET actor = 'system' WHERE seq = 1")
    with pytest.raises(INTEGRITY_ERRORS):
        db.execute("DELETE FROM audit_log WHERE seq = 2")
    genesis_link = db.execute("SELECT prev_hash FROM audit_log WHERE seq = 1").fetchone()[0]
    with pytest.raises(INTEGRITY_ERRORS):
        db.execute("INSERT INTO audit_log (at, actor, action, subject, details_json, "
                   "prev_hash, hash) VALUES (1, 'system', 'x', 'child:1', '{}', ?, 'f')",
                   [genesis_link])
    assert audit.verify(db).ok


@pytest.mark.parametrize("details", [
    {"reason": "mia said she lives on elm street"},
    {"scope": "parent@example.org"},
    {"transcript": "hello"},
    {"tables": {"profile_facts": "owl and dragons"}},
    {"purposes": [["nested"]]},
])
@pytest.mark.backends("sqlite", "postgresql")
def test_child_content_cannot_enter_the_log(db_path: str, details: dict[str, object]) -> None:
    db = open_db(db_path)
    with pytest.raises(audit.AuditContentError):
        audit.append(db, at=1.0, actor="system", action="erase", subject="child:1",
                     details=details)
    with pytest.raises(audit.AuditContentError):
        audit.append(db, at=1.0, actor="system", action="erase", subject="mia smith")
    assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0


@pytest.mark.backends("sqlite", "postgresql")
def test_concurrent_writers_keep_one_unbroken_chain(db_path: str) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            _entries(connect(db_path), 40)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = audit.verify(connect(db_path))
    assert (result.ok, result.entries) == (True, 120)


@pytest.mark.backends("sqlite", "postgresql")
def test_entries_past_the_logs_retention_are_trimmed_and_the_chain_still_verifies(
        db_path: str) -> None:
    from cloud.retention.purge import purge_expired

    db = open_db(db_path)
    start = 1_800_000_000.0
    for n in range(5):
        audit.append(db, at=start + n, actor="system", action="test.event", subject=f"n:{n}")
    # Deleting by hand is still refused: nothing has been trimmed.
    with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE seq = 1")
    four_years = 4 * 365 * 86400
    audit.append(db, at=start + four_years, actor="system", action="test.event",
                 subject="recent")
    report = purge_expired(db, start + four_years + 10)
    assert report.rows["audit_log"] == 5
    actions = [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY seq")]
    assert actions[0] == "test.event" and "audit.trim" in actions
    assert audit.verify(db).ok
    # Dropping a kept entry is still refused, and so is editing the trim record.
    with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
        db.execute("DELETE FROM audit_log WHERE action = 'audit.trim'")


@pytest.mark.backends("sqlite", "postgresql")
def test_an_append_rolled_back_leaves_no_gap_in_the_chain(db_path: str) -> None:
    """A request that logged, then failed, is rolled back; on PostgreSQL its identity number
    is not, so numbering from the database's counter made `verify` report entries cut out."""
    db = open_db(db_path)
    _entries(db, 1)
    with contextlib.suppress(RuntimeError), write_transaction(db):
        audit.append(db, at=2.0, actor="system", action="test.undone", subject="child:1")
        raise RuntimeError("the request failed after logging")
    # The database's own counter moved on (the negative control: on PostgreSQL a plain insert
    # now lands after a gap); the log's numbering did not.
    _entries(db, 1)
    verification = audit.verify(db)
    assert verification.ok, verification
    assert [row[0] for row in db.execute("SELECT seq FROM audit_log ORDER BY seq")] == [1, 2]
