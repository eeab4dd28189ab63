"""Every write of an erasure job is fenced by the runner's lease (issue 26, item 11): a runner
paused past its lease, whose job another server finished meanwhile, writes nothing when it
resumes, and above all no second erasure proof."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import make_family
from flask import Flask
from retention_helpers import ALL_PURPOSES, send

from cloud.fleet import lease
from cloud.retention import jobs
from cloud.retention.erasure import continue_erasure


def _proofs(db: sqlite_utils.Database, receipt: str) -> int:
    return sum(1 for (details,) in db.execute(
        "SELECT details_json FROM audit_log WHERE action = 'child.erase.proof'")
        if receipt in details)


@pytest.mark.backends("sqlite", "postgresql")
def test_a_runner_paused_past_its_lease_cannot_write_a_second_proof(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    family = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    # The job's first steps (key, rows), leaving the rest (backups, proof) to runners.
    job = jobs.begin_erasure(db, child_id=family.child_id, parent_id=family.parent_id,
                             now=time.time(), db_path=cloud_db_path, reason="parent_request",
                             backup_dir=tmp_path / "backups")
    assert not job.done

    paused, resume = threading.Event(), threading.Event()
    original = jobs._receipt

    def pause_before_the_proof(*args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "paused-runner":
            paused.set()
            assert resume.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(jobs, "_receipt", pause_before_the_proof)
    from cloud.storage.db import open_db

    outcome: list[object] = []

    def paused_runner() -> None:
        own = open_db(cloud_db_path, migrate_schema=False)
        try:
            outcome.append(continue_erasure(own, job_id=job.job_id, db_path=cloud_db_path,
                                            now=time.time()))
        except Exception as exc:  # reported to the test
            outcome.append(exc)
        finally:
            own.close()

    runner = threading.Thread(target=paused_runner, name="paused-runner")
    runner.start()
    try:
        assert paused.wait(30)
        # As if its process had been stopped for longer than the lease: it lapses, and
        # another server's runner takes it and finishes the job.
        db.execute("UPDATE leases SET expires_at = 0 WHERE name = ?", [lease.ERASURE_RUNNER])
        finished = continue_erasure(db, job_id=job.job_id, db_path=cloud_db_path,
                                    now=time.time())
        assert finished.done and _proofs(db, job.job_id) == 1
        receipt_before = db.execute("SELECT receipt_json FROM erasure_jobs WHERE id = ?",
                                    [job.job_id]).fetchone()[0]
    finally:
        resume.set()
        runner.join(30)
    assert outcome and not isinstance(outcome[0], Exception), outcome
    assert _proofs(db, job.job_id) == 1  # before the fence: 2
    assert db.execute("SELECT receipt_json FROM erasure_jobs WHERE id = ?",
                      [job.job_id]).fetchone()[0] == receipt_before


def test_a_fenced_write_outside_the_lease_is_refused(tmp_path: Path) -> None:
    from cloud.storage.db import open_db

    path = str(tmp_path / "cloud.db")
    db = open_db(path)
    mine = lease.Lease(db, lease.ERASURE_RUNNER, holder="a")
    assert mine.try_take()
    db.execute("BEGIN IMMEDIATE")
    mine.fence(db)  # control: still ours, renewed in the transaction
    db.execute("COMMIT")
    db.execute("UPDATE leases SET expires_at = 0")
    assert lease.Lease(db, lease.ERASURE_RUNNER, holder="b").try_take()
    db.execute("BEGIN IMMEDIATE")
    with pytest.raises(lease.LeaseLost):
        mine.fence(db)
    db.execute("ROLLBACK")
    db.close()


@pytest.mark.backends("sqlite", "postgresql")
def test_a_purge_whose_lease_was_taken_over_deletes_nothing(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str) -> None:
    from retention_helpers import later

    from cloud.retention.purge import purge_expired

    family = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    send(app, family, "tell_story", {"topic": "dragons"})
    history = "SELECT count(*) FROM intent_events WHERE child_id = ?"
    assert db.execute(history, [family.child_id]).fetchone()[0] == 1
    with lease.holding(cloud_db_path, lease.PURGE, wait=False) as mine:
        assert mine
        # Paused past its lease: another server's purge takes the turn.
        db.execute("UPDATE leases SET expires_at = 0 WHERE name = ?", [lease.PURGE])
        assert lease.Lease(db, lease.PURGE, holder="other-server").try_take()
        with pytest.raises(lease.LeaseLost):
            purge_expired(db, later(40))
    assert db.execute(history, [family.child_id]).fetchone()[0] == 1  # nothing deleted
    purge_expired(db, later(40))  # control: outside a lost lease the purge deletes it
    assert db.execute(history, [family.child_id]).fetchone()[0] == 0


def test_a_killed_holder_not_yet_reaped_counts_as_dead() -> None:
    """A runner killed with -9 stays a zombie until its parent reaps it; its lease must be
    taken over at once, not after the TTL (the interrupted-erasure story waited on it)."""
    import socket
    import subprocess
    import sys

    from cloud.fleet.lease import holder_is_dead_here

    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    holder = f"{socket.gethostname()}:{runner.pid}:abcd1234"
    try:
        assert not holder_is_dead_here(holder)
        runner.kill()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{runner.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # Not reaped yet: signal 0 still reaches it (the negative control of the state read).
        os.kill(runner.pid, 0)
        assert holder_is_dead_here(holder)
    finally:
        runner.kill()
        runner.wait()
    assert holder_is_dead_here(holder)
