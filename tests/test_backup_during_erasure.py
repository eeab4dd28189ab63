"""A backup being copied while a child is erased never keeps the child (issue 26, item 9).

The backup is held, deterministically, between copying the pages and naming the file, while
the whole erasure runs and finishes; when the backup then completes it must not hold the
child's rows, consents or toy secret, and a purge afterwards must not bring them back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from cloud_helpers import db_for, make_app, make_family
from retention_helpers import ALL_PURPOSES, send

from cloud.retention import backup as backups
from cloud.retention.backup import create_backup
from cloud.retention.erasure import erase_child
from cloud.retention.purge import purge_expired


def _holds(path: Path, child_id: int, secret: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        found = []
        for table, column in (("children", "id"), ("consents", "child_id"),
                              ("devices", "child_id")):
            if conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?",
                            [child_id]).fetchone():
                found.append(table)
    finally:
        conn.close()
    if secret.encode() in path.read_bytes():
        found.append("toy secret in the file's bytes")
    return found


def test_a_backup_copied_during_an_erasure_does_not_keep_the_child(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path, purge_interval_s=0)
    db = db_for(app)
    family = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    other = make_family(db, purposes=ALL_PURPOSES, first_name="Bartholomew")
    send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    secret = db.execute("SELECT secret FROM devices WHERE child_id = ?",
                        [family.child_id]).fetchone()[0]
    db_path = app.config["TEDDY"].db_path
    backup_dir = Path(f"{db_path}.backups")

    copied, go = threading.Event(), threading.Event()
    original = backups._leave_out_server_secrets

    def copy_then_wait(copy: sqlite3.Connection) -> None:
        original(copy)
        copied.set()
        assert go.wait(30)

    monkeypatch.setattr(backups, "_leave_out_server_secrets", copy_then_wait)
    made: list[Path] = []
    worker = threading.Thread(target=lambda: made.append(
        create_backup(db_path, backup_dir, time.time())))
    worker.start()
    try:
        assert copied.wait(30)
        erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                    now=time.time(), db_path=db_path)
    finally:
        go.set()
        worker.join(30)
    assert made, "the backup did not finish"
    assert _holds(made[0], family.child_id, secret) == []
    assert _holds(made[0], other.child_id, "not-a-secret-value") == ["children", "consents",
                                                                    "devices"]
    purge_expired(db, time.time(), inactive_profile_days=180, backup_dir=backup_dir)
    assert _holds(made[0], family.child_id, secret) == []
