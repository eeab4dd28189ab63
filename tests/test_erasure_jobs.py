"""R32: an erasure interrupted by kill -9, a worker timeout or a restart is finished and proved.

The processes killed here are real: a Python process running the cloud's own erasure code is
sent SIGKILL at a chosen step, and a real `teddy cloud purge` or a real gunicorn server started
afterwards must finish the job, rewrite every backup and append the proof to the audit log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlite_utils
from parent_web_helpers import FAST_HASH, add_child, signup, submit
from retention_helpers import chatty_family, cloud_cli

from cloud import audit
from cloud.retention import jobs
from cloud.retention.backup import create_backup, list_backups
from cloud.retention.erasure import erasure_status
from cloud.retention.proof import scan_for_canaries
from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess

REPO = Path(__file__).resolve().parents[1]
NAME, FAVOURITE = "Zelphinia", "quokkadragon"
BACKUPS = 3

# Runs the cloud's erasure in a child process and stops it, for the kill, at one step:
# "committed" (the live erasure and job are committed, no backup rewritten yet),
# "one-backup" (the first backup has been rewritten and recorded) or "proof" (every backup is
# rewritten, the proof has begun).
KILLABLE = textwrap.dedent("""
    import sys, time
    from cloud.retention import jobs
    from cloud.storage.db import open_db

    db_path, mode, stop_at = sys.argv[1], sys.argv[2], sys.argv[3]

    def hold(label):
        print(label, flush=True)
        time.sleep(600)

    if stop_at == "committed":
        def run_job(*args, **kwargs):
            hold("committed")
        jobs.run_job = run_job
    elif stop_at == "proof":
        import cloud.retention.erasure as erasure
        def prove_erasure(*args, **kwargs):
            hold("proof")
        erasure.prove_erasure = prove_erasure
    else:
        real_save = jobs._save_progress
        def save(db, job_id, step, done):
            real_save(db, job_id, step, done)
            if any(state != jobs.PENDING for state in done.values()):
                hold("one-backup")
        jobs._save_progress = save

    db = open_db(db_path)
    if mode == "request":
        from cloud.retention.erasure import request_erasure
        child_id, parent_id = int(sys.argv[4]), int(sys.argv[5])
        request_erasure(db, child_id=child_id, parent_id=parent_id, now=time.time(),
                        db_path=db_path)
    else:
        from cloud.retention.purge import purge_expired
        purge_expired(db, time.time() + 400 * 86400, inactive_profile_days=180)
    print("finished", flush=True)
""")


def _family_with_backups(tmp_path: Path) -> tuple[str, sqlite_utils.Database, int, int]:
    app, db, family = chatty_family(tmp_path, NAME.lower(), FAVOURITE)
    db_path = app.config["TEDDY"].db_path
    for _ in range(BACKUPS):
        create_backup(db_path, f"{db_path}.backups", time.time())
    assert len(list_backups(f"{db_path}.backups")) == BACKUPS
    return db_path, db, family.child_id, family.parent_id


def _kill_at(db_path: str, mode: str, stop_at: str, *ids: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, db_path, mode, stop_at, *map(str, ids)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert line == stop_at, process.stderr.read() if process.stderr else line


def _actions(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY seq")]


def _backups_holding_child(db_path: str) -> int:
    """Backups with the (only) child's record in them. Read through SQLite: the child's values
    are sealed, so their plaintext is in no backup's bytes even before the erasure."""
    held = 0
    for item in list_backups(f"{db_path}.backups"):
        with contextlib.closing(sqlite3.connect(f"file:{item.path}?mode=ro", uri=True)) as copy:
            held += copy.execute("SELECT count(*) FROM children").fetchone()[0] > 0
    return held


def _assert_finished_and_proved(db_path: str, child_id: int) -> None:
    db = open_db(db_path)
    job = erasure_status(db, child_id=child_id, parent_id=None)
    assert job is not None and job.done, job
    assert job.receipt is not None and job.receipt["proof"]["clean"], job.receipt
    proofs = [json.loads(r[0]) for r in db.execute(
        "SELECT details_json FROM audit_log WHERE action = 'child.erase.proof'")]
    assert [p["receipt"] for p in proofs] == [job.job_id]
    assert proofs[0]["scope"] == "clean"
    assert scan_for_canaries(db_path, [NAME, FAVOURITE], f"{db_path}.backups") == []
    assert not list(jobs.canary_dir(db_path).glob("*.json")), "canaries outlived the proof"
    assert audit.verify(db).ok


@pytest.mark.parametrize("stop_at", ["committed", "one-backup", "proof"])
def test_kill_9_during_a_parents_erasure_then_purge_finishes_and_proves_it(
        tmp_path: Path, stop_at: str) -> None:
    db_path, db, child_id, parent_id = _family_with_backups(tmp_path)
    _kill_at(db_path, "request", stop_at, child_id, parent_id)

    # The live database is already clean; backups still hold the child; no proof yet.
    assert db.execute("SELECT count(*) FROM children").fetchone()[0] == 0
    assert "child.erase" in _actions(db) and "child.erase.proof" not in _actions(db)
    held = {"committed": BACKUPS, "one-backup": BACKUPS - 1, "proof": 0}[stop_at]
    assert _backups_holding_child(db_path) == held
    job = erasure_status(db, child_id=child_id, parent_id=parent_id)
    assert job is not None and not job.done
    if stop_at == "proof":
        assert job.progress().startswith(f"erasure in progress: all {BACKUPS} backups")
    else:
        assert job.progress() == (f"erasure in progress: {BACKUPS - held} of {BACKUPS} "
                                  "backups rewritten")

    assert cloud_cli(["purge", "--db", db_path]) == 0
    _assert_finished_and_proved(db_path, child_id)


def test_kill_9_during_the_purges_inactive_erasure_then_next_purge_proves_it(
        tmp_path: Path) -> None:
    db_path, db, child_id, _parent = _family_with_backups(tmp_path)
    _kill_at(db_path, "purge", "one-backup")
    assert db.execute("SELECT count(*) FROM children").fetchone()[0] == 0
    assert "child.erase.proof" not in _actions(db)
    job = erasure_status(db, child_id=child_id, parent_id=None)
    assert job is not None and job.reason == "inactive" and not job.done

    assert cloud_cli(["purge", "--db", db_path]) == 0
    _assert_finished_and_proved(db_path, child_id)


def test_a_server_started_after_the_kill_finishes_the_erasure(tmp_path: Path) -> None:
    db_path, db, child_id, parent_id = _family_with_backups(tmp_path)
    _kill_at(db_path, "request", "committed", child_id, parent_id)
    db.close()
    # No purge runs on a schedule here: only the start-up of the server may finish it.
    with CloudProcess(db_path, env={"TEDDY_PURGE_INTERVAL_S": "0"}):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = erasure_status(open_db(db_path), child_id=child_id, parent_id=None)
            if job is not None and job.done:
                break
            time.sleep(0.2)
    _assert_finished_and_proved(db_path, child_id)


def test_a_parents_retry_shows_progress_never_nothing_here(tmp_path: Path) -> None:
    from cloud.app import create_app

    # A request that runs out of time before any backup is rewritten, as a slow disk would.
    app = create_app(db_path=str(tmp_path / "cloud.db"), purge_interval_s=0,
                     erasure_request_budget_s=0)
    app.config.update(TESTING=True, PASSWORD_HASH_PARAMS=FAST_HASH)
    client = app.test_client()
    signup(client, "retry@example.org")
    child_id = add_child(client, first_name=NAME)
    db_path = app.config["TEDDY"].db_path
    for _ in range(BACKUPS):
        create_backup(db_path, f"{db_path}.backups", time.time())
    first = submit(client, f"/parent/children/{child_id}/delete", {"confirm": "DELETE"})
    page = first.get_data(as_text=True)
    assert first.status_code == 202, page
    assert f"erasure in progress: 0 of {BACKUPS} backups rewritten" in page
    assert NAME not in page

    retry = client.get(f"/parent/children/{child_id}/delete")
    assert retry.status_code in (200, 202), "a retry must never say there is nothing here"
    # The server's background runner finishes the job; the retry then gets the receipt.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = erasure_status(open_db(db_path), child_id=child_id, parent_id=None)
        if job is not None and job.done:
            break
        time.sleep(0.1)
    again = submit(client, f"/parent/children/{child_id}/delete", {"confirm": "DELETE"})
    receipt_page = again.get_data(as_text=True)
    assert again.status_code == 200, receipt_page
    receipt = json.loads(re.search(r'<pre id="receipt-json">(.*?)</pre>', receipt_page,
                                   re.S)[1].replace("&#34;", '"'))  # type: ignore[index]
    assert receipt["backups_rewritten"] == BACKUPS and receipt["proof"]["clean"]
    assert scan_for_canaries(db_path, [NAME], f"{db_path}.backups") == []


def test_kill_9_of_the_server_after_the_parents_delete_then_restart_proves_it(
        tmp_path: Path) -> None:
    """The whole path a parent meets: the page answers at once with progress, the server is
    killed (master and workers, SIGKILL) before anything else runs, and the next start of
    `teddy cloud serve` finishes the erasure and records its proof."""
    from scenarios.parent_client import ParentClient

    db_path = tmp_path / "cloud.db"
    frozen = {"TEDDY_PURGE_INTERVAL_S": "0", "TEDDY_ERASURE_RUNNER": "0",
              "TEDDY_ERASURE_REQUEST_BUDGET_S": "0"}
    server = CloudProcess(db_path, env=frozen).start()
    try:
        parent = ParentClient(server.url, mail_db=str(db_path))
        parent.signup("kill9@example.org", "correct horse battery staple")
        child_id = parent.add_child(NAME)
        for _ in range(BACKUPS):
            assert cloud_cli(["backup", "--db", str(db_path)]) == 0
        parent.get(f"/parent/children/{child_id}/delete")
        answer = parent.http.post(f"{server.url}/parent/children/{child_id}/delete",
                                  data={"csrf_token": parent._csrf or "", "confirm": "DELETE"},
                                  timeout=15)
        assert answer.status_code == 202
        assert f"erasure in progress: 0 of {BACKUPS} backups rewritten" in answer.text
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    finally:
        server.stop()
    db = open_db(str(db_path))
    assert "child.erase.proof" not in _actions(db)
    assert _backups_holding_child(str(db_path)), "the backups still hold the child"
    with CloudProcess(db_path, env={"TEDDY_PURGE_INTERVAL_S": "0"}) as restarted:
        parent = ParentClient(restarted.url, mail_db=str(db_path))
        parent.login("kill9@example.org", "correct horse battery staple")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = parent.get(f"/parent/children/{child_id}/delete")
            if page.status_code == 200 and "receipt-json" in page.text:
                break
            time.sleep(0.2)
        assert "receipt-json" in page.text, page.text[:500]
    _assert_finished_and_proved(str(db_path), child_id)
    assert scan_for_canaries(str(db_path), [NAME], f"{db_path}.backups") == []


def test_a_job_whose_canaries_were_lost_finishes_but_is_not_called_clean(
        tmp_path: Path) -> None:
    db_path, db, child_id, parent_id = _family_with_backups(tmp_path)
    _kill_at(db_path, "request", "committed", child_id, parent_id)
    for path in jobs.canary_dir(db_path).glob("*.json"):
        path.unlink()  # as if the disk had lost the file
    assert cloud_cli(["purge", "--db", db_path]) == 0
    job = erasure_status(open_db(db_path), child_id=child_id, parent_id=None)
    assert job is not None and job.done and job.receipt is not None
    assert job.receipt["backups_rewritten"] == BACKUPS
    assert not job.receipt["proof"]["clean"] and "lost" in job.receipt["proof"]["problem"]
    scopes = [json.loads(r[0])["scope"] for r in open_db(db_path).execute(
        "SELECT details_json FROM audit_log WHERE action = 'child.erase.proof'")]
    assert scopes == ["incomplete"]
