"""Storage plumbing: connection settings, per-worker connections, background checkpoints."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cloud.storage import checkpointer, writer_queue
from cloud.storage.db import (
    BUSY_TIMEOUT_MS,
    close_worker_connections,
    connect,
    open_db,
    release,
    worker_connection,
    write_transaction,
)
from cloud.storage.migrations import MIGRATIONS, current_version


def test_every_connection_has_the_required_settings(tmp_path: Path) -> None:
    db = connect(str(tmp_path / "s.db"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_run_once_and_reach_the_latest_version(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    db = open_db(path)
    latest = max(version for version, _step in MIGRATIONS)
    assert current_version(db) == latest
    open_db(path)  # a second start applies nothing twice
    assert db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_worker_reuses_its_connection_and_no_transaction_outlives_a_request(
        tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    open_db(path).close()
    first = worker_connection(path)
    assert worker_connection(path) is first
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO schema_migrations VALUES (999, 0)")
    release(first)
    assert not first.conn.in_transaction
    assert first.execute("SELECT COUNT(*) FROM schema_migrations WHERE version = 999"
                         ).fetchone()[0] == 0
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(worker_connection(path)))
    thread.start()
    thread.join()
    assert other[0] is not first  # one per thread: sqlite connections are not shared
    close_worker_connections()
    assert worker_connection(path) is not first


def _write_pages(path: str, pages: int) -> int:
    """Write about `pages` WAL frames with automatic checkpoints off; return frames left."""
    writer = connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE IF NOT EXISTS blobs (b BLOB)")
    for _ in range(pages // 20):
        for _ in range(20):
            writer.execute("INSERT INTO blobs VALUES (randomblob(4000))")
        time.sleep(0.02)
    time.sleep(0.3)
    writer.execute("INSERT INTO blobs VALUES (1)")  # a new writer may start the WAL afresh
    frames = int(writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    writer.close()
    return frames


def test_the_background_checkpointer_folds_the_wal_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unattended, attended = str(tmp_path / "alone.db"), str(tmp_path / "checked.db")
    for path in (unattended, attended):
        open_db(path).close()
    # Control: with automatic checkpoints off and no thread, every frame stays in the WAL.
    assert _write_pages(unattended, 600) >= 600
    monkeypatch.setattr(checkpointer, "RESTART_FRAMES", 50)
    checkpointer.start(attended, interval_s=0.05)
    try:
        assert _write_pages(attended, 600) < 200
    finally:
        checkpointer.stop_all()
    assert not checkpointer.running_for(attended)


def test_an_erased_childs_id_is_never_given_to_a_new_child(tmp_path: Path) -> None:
    """Audit entries name `child:<id>`; reuse would tie a new child to an erased one's log."""
    db = open_db(str(tmp_path / "cloud.db"))
    now = time.time()
    parent = db["parents"].insert({"email": "p@example.com", "password_hash": "-",
                                   "created_at": now}).last_pk
    child = {"parent_id": parent, "age_band": "6-8", "country": "US", "created_at": now,
             "last_active_at": now}
    first = db["children"].insert(child).last_pk
    db.execute("DELETE FROM children WHERE id = ?", [first])
    assert db["children"].insert(child).last_pk != first


def test_a_write_transaction_commits_or_rolls_back_as_a_whole(tmp_path: Path) -> None:
    db = open_db(str(tmp_path / "w.db"))
    db.execute("CREATE TABLE notes (text TEXT)")
    with write_transaction(db):
        db.execute("INSERT INTO notes VALUES ('kept')")
    with pytest.raises(ValueError), write_transaction(db):
        db.execute("INSERT INTO notes VALUES ('half-written')")
        raise ValueError("request failed midway")
    assert db.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    assert not db.conn.in_transaction


def _hold_a_write_transaction(path: str, inside: Any, release_it: Any) -> None:
    db = connect(path)
    with write_transaction(db):
        db.execute("INSERT INTO notes VALUES ('other worker')")
        inside.set()
        release_it.wait(10)


def test_writers_in_other_processes_wait_in_the_kernel_queue_until_the_writer_commits(
        tmp_path: Path) -> None:
    import fcntl
    import multiprocessing

    path = str(tmp_path / "q.db")
    open_db(path).execute("CREATE TABLE notes (text TEXT)")
    ctx = multiprocessing.get_context("fork")
    inside, release_it = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold_a_write_transaction, args=(path, inside, release_it))
    other.start()
    try:
        assert inside.wait(10)
        with open(path + writer_queue.SUFFIX, "rb") as queue:
            with pytest.raises(BlockingIOError):
                fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
            release_it.set()
            other.join(10)
            fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the other committed
    finally:
        release_it.set()
        other.join(10)
    assert open_db(path).execute("SELECT text FROM notes").fetchall() == [("other worker",)]
