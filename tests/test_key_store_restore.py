"""A lost key store is refused at start (issue 26, item 4), and a restored backup taken before
an erasure does not bring the erased child back (item 8): both on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cloud_helpers import db_for, intent_body, make_app, make_family, signed_intent_headers
from retention_helpers import ALL_PURPOSES, cloud_cli, send

from cloud.keys import store as store_module
from cloud.keys.store import store_for
from cloud.retention.backup import create_backup
from cloud.retention.erasure import erase_child
from cloud.retention.tombstones import KeyStoreLost
from cloud.storage.db import close_worker_connections

BOTH = pytest.mark.backends("sqlite", "postgresql")


def _forget_open_connections() -> None:
    """What a restart does: no connection or key store object survives from before."""
    close_worker_connections()
    store_module._store_at.cache_clear()
    store_module.store_for_path.cache_clear()


def _remove_store(location: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(location + suffix).unlink(missing_ok=True)


@BOTH
def test_a_lost_key_store_is_refused_at_start_not_made_again(
        tmp_path: Path, cloud_db_path: str) -> None:
    app = make_app(tmp_path, db_path=cloud_db_path, purge_interval_s=0)
    db = db_for(app)
    family = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    location = store_for(db).location
    db.close()
    _forget_open_connections()
    make_app(tmp_path, db_path=cloud_db_path, purge_interval_s=0)  # control: the store is there

    _forget_open_connections()
    _remove_store(location)
    lost = rf"holds no key for 1 children .*child {family.child_id}"
    with pytest.raises(KeyStoreLost, match=lost):
        make_app(tmp_path, db_path=cloud_db_path, purge_interval_s=0)
    assert not Path(location).exists()  # not silently made again, empty
    assert cloud_cli(["purge", "--db", cloud_db_path]) == 2


def test_serve_with_a_lost_key_store_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    app = make_app(tmp_path, purge_interval_s=0)
    db = db_for(app)
    family = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    send(app, family, "share_name", {"child_name": "zelphinia"})
    location = store_for(db).location
    db.close()
    _forget_open_connections()
    _remove_store(location)
    result = subprocess.run(
        [sys.executable, "-m", "teddy.cli", "cloud", "serve", "--db", str(tmp_path / "cloud.db"),
         "--port", "0"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "holds no key for 1 children" in lines[0], result.stderr
    assert not Path(location).exists()


def _restore(cloud_db_path: str, saved: Path, request: pytest.FixtureRequest) -> None:
    """Put the data back as it was when `saved` was taken, with the server stopped."""
    _forget_open_connections()
    if cloud_db_path.startswith("postgresql"):
        server = request.getfixturevalue("postgres_server")
        subprocess.run([str(server.bin / "pg_restore"), "--clean", "--if-exists", "--no-owner",
                        "-d", cloud_db_path, str(saved)], check=True, capture_output=True,
                       timeout=120)
        return
    for suffix in ("-wal", "-shm"):
        Path(cloud_db_path + suffix).unlink(missing_ok=True)
    shutil.copyfile(saved, cloud_db_path)


def _take_offsite_backup(tmp_path: Path, cloud_db_path: str,
                         request: pytest.FixtureRequest) -> Path:
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    if cloud_db_path.startswith("postgresql"):
        server = request.getfixturevalue("postgres_server")
        dump = offsite / "teddy.dump"
        subprocess.run([str(server.bin / "pg_dump"), "-Fc", "-f", str(dump), cloud_db_path],
                       check=True, capture_output=True, timeout=120)
        return dump
    # A copy kept away from the backup folder, which erasure would rewrite.
    made = create_backup(cloud_db_path, tmp_path / "taken", time.time())
    return Path(shutil.copy(made, offsite / made.name))


@BOTH
def test_restoring_a_backup_from_before_an_erasure_does_not_bring_the_child_back(
        tmp_path: Path, cloud_db_path: str, request: pytest.FixtureRequest) -> None:
    app = make_app(tmp_path, db_path=cloud_db_path, purge_interval_s=0)
    db = db_for(app)
    erased = make_family(db, purposes=ALL_PURPOSES, first_name="Zelphinia")
    kept = make_family(db, purposes=ALL_PURPOSES, first_name="Bartholomew")
    for family in (erased, kept):
        send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    saved = _take_offsite_backup(tmp_path, cloud_db_path, request)
    receipt = erase_child(db, child_id=erased.child_id, parent_id=erased.parent_id,
                          now=time.time(), db_path=cloud_db_path)
    assert receipt.proof.clean, receipt.proof
    db.close()

    _restore(cloud_db_path, saved, request)
    check = db_for(make_app(tmp_path, db_path=cloud_db_path, purge_interval_s=0))
    try:
        back = check.execute("SELECT id FROM children WHERE id = ?", [erased.child_id])
        assert back.fetchone() is None  # before the restore's fix: the child is back
        assert check.execute("SELECT 1 FROM children WHERE id = ?",
                             [kept.child_id]).fetchone() is not None
        assert check.execute("SELECT count(*) FROM consents WHERE child_id = ?",
                             [erased.child_id]).fetchone()[0] == 0
        assert check.execute("SELECT count(*) FROM devices WHERE child_id = ?",
                             [erased.child_id]).fetchone()[0] == 0
        # A new child never gets the erased child's id (and with it the tombstone).
        newcomer = make_family(check, purposes=ALL_PURPOSES, first_name="Ottoline")
        assert newcomer.child_id > erased.child_id
    finally:
        check.close()
    app = make_app(tmp_path, db_path=cloud_db_path, purge_interval_s=0)
    body = intent_body(erased, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    reply = app.test_client().post("/api/v1/intent", data=body,
                                   headers=signed_intent_headers(erased, body))
    assert reply.status_code in (401, 403), reply.get_json()  # the old toy is not accepted
    send(app, kept, "share_favorite", {"kind": "animal", "value": "wombat"})
