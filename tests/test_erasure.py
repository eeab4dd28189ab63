"""R18-R20: erasure removes the child everywhere, proves it from raw bytes, and gives a receipt."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import time
from pathlib import Path

import pytest
from cloud_helpers import dump_tables, make_family
from retention_helpers import chatty_family, cloud_cli, count, send

from cloud import audit
from cloud.retention.checkpoint import checkpoint_truncate
from cloud.retention.child_rows import delete_child_rows
from cloud.retention.erasure import ErasureError, erase_child, erase_item
from cloud.retention.policy import erase_plan
from cloud.retention.proof import scan_for_canaries

NAME, FAVOURITE = "Zelphinia", "quokkadragon"
CANARIES = [NAME, NAME.lower(), FAVOURITE]


def _db_path(app: object) -> str:
    return app.config["TEDDY"].db_path  # type: ignore[attr-defined]


def test_erasure_leaves_no_canary_in_any_file(tmp_path: Path) -> None:
    app, db, family = chatty_family(tmp_path)
    db_path = _db_path(app)
    # The scan is real: before erasure it finds the toy's key in the raw bytes. The child's
    # values were never there: they are sealed with the child's own key (cloud.keys).
    assert scan_for_canaries(db_path, [family.secret])
    assert scan_for_canaries(db_path, CANARIES) == []

    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=db_path)
    assert receipt.proof.clean, receipt.proof
    assert receipt.proof.checkpoint_complete and receipt.proof.canaries_checked >= 3
    assert scan_for_canaries(db_path, CANARIES + [family.secret]) == []
    for table in erase_plan(db).by_child:
        assert count(db, table, "child_id = ?", [family.child_id]) == 0, table
    assert count(db, "seen_nonces", "device_id = ?", [family.device_id]) == 0
    assert receipt.rows_removed["intent_events"] == 3
    assert receipt.rows_removed["children"] == 1
    assert audit.verify(db).ok


def test_without_the_truncate_checkpoint_the_wal_still_holds_the_canary(tmp_path: Path) -> None:
    """secure_delete zeroes the page it rewrites, but the WAL keeps older frames of it. (The
    toy's key is the canary: the child's own values are sealed and never there in plaintext.)"""
    app, db, family = chatty_family(tmp_path)
    db_path = _db_path(app)
    db.execute("BEGIN IMMEDIATE")
    delete_child_rows(db, family.child_id, erase_plan(db))
    db.execute("COMMIT")
    assert count(db, "children", "id = ?", [family.child_id]) == 0
    in_wal = [f for f in scan_for_canaries(db_path, [family.secret]) if f.file.endswith("-wal")]
    assert in_wal, "deleted rows should still sit in the -wal until a TRUNCATE checkpoint"
    assert checkpoint_truncate(db).complete
    assert scan_for_canaries(db_path, [family.secret]) == []


def test_verify_erasure_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app, db, family = chatty_family(tmp_path)
    db_path = _db_path(app)
    assert cloud_cli(["verify-erasure", "--db", db_path, "--canary", family.secret]) == 1
    out = capsys.readouterr().out
    assert f"{db_path}-wal at offset" in out and "FOUND" in out
    erase_child(db, child_id=family.child_id, parent_id=family.parent_id, now=time.time(),
                db_path=db_path)
    assert cloud_cli(["verify-erasure", "--db", db_path, "--canary", family.secret]) == 0
    assert "none found" in capsys.readouterr().out
    assert cloud_cli(["verify-erasure", "--db", str(tmp_path / "nope.db"),
                      "--canary", NAME]) == 2
    assert cloud_cli(["verify-erasure", "--db", db_path, "--canary", "ab"]) == 2
    assert cloud_cli(["verify-erasure", "--db", db_path, "--canary", NAME,
                      "--backup-dir", str(tmp_path / "no-such-dir")]) == 2


def test_an_open_reader_blocks_the_checkpoint_and_is_reported_not_waited_on(
        tmp_path: Path) -> None:
    app, db, family = chatty_family(tmp_path)
    db_path = _db_path(app)
    reader = sqlite3.connect(db_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM profile_facts").fetchone()  # pins a snapshot
    # Waiting on the reader would never end, since it holds its snapshot until after the
    # erasure returns; a generous bound keeps a regression from hanging the run.
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        receipt = pool.submit(erase_child, db, child_id=family.child_id,
                              parent_id=family.parent_id, now=time.time(),
                              db_path=db_path).result(timeout=120)
    finally:
        reader.execute("ROLLBACK")
        reader.close()
        pool.shutdown()
    assert not receipt.proof.checkpoint_complete
    assert not receipt.proof.clean
    assert receipt.proof.checkpoint_attempts > 1
    assert receipt.proof.problem and "checkpoint could not finish" in receipt.proof.problem
    assert receipt.proof.findings  # the bytes really are still there
    # Rows are gone already; once the reader has left, a checkpoint finishes the job.
    assert count(db, "children", "id = ?", [family.child_id]) == 0
    assert checkpoint_truncate(db).complete
    assert scan_for_canaries(db_path, CANARIES) == []


@pytest.mark.backends("sqlite", "postgresql", fast_tier=True)
def test_erased_data_no_longer_shapes_a_reply(tmp_path: Path, cloud_db_path: str) -> None:
    app, db, family = chatty_family(tmp_path, db_path=cloud_db_path, parent_typed_name=False)
    assert NAME in str(send(app, family, "tell_story", {"topic": "dragons"})["reply"])
    fact_ids = [r[0] for r in db.execute(
        "SELECT id FROM profile_facts WHERE child_id = ? AND key = 'child_name'",
        [family.child_id])]
    assert erase_item(db, child_id=family.child_id, parent_id=family.parent_id,
                      table="profile_facts", row_id=fact_ids[0], now=time.time())
    reply = send(app, family, "tell_story", {"topic": "dragons"})
    assert NAME not in str(reply["reply"])
    assert count(db, "profile_facts", "key = 'child_name'") == 0

    erase_child(db, child_id=family.child_id, parent_id=family.parent_id, now=time.time(),
                db_path=_db_path(app))
    body_after = app.test_client().post("/api/v1/intent", data=b"{}",
                                        headers=family.sign("POST", "/api/v1/intent", b"{}"))
    assert body_after.status_code == 401  # the toy's key went with the child


@pytest.mark.backends("sqlite", "postgresql")
def test_receipt_holds_no_personal_data(tmp_path: Path, cloud_db_path: str) -> None:
    app, db, family = chatty_family(tmp_path, db_path=cloud_db_path)
    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=_db_path(app))
    text = json.dumps(receipt.to_dict())
    for secret in [*CANARIES, family.email, family.device_id, family.secret, "dragons"]:
        assert secret not in text
    assert "child_id" not in text and f"child:{family.child_id}" not in text
    assert receipt.receipt_id.startswith("erasure-")
    assert "child.name" in receipt.categories and "child.activity" in receipt.categories
    # The audit log records the receipt id against the opaque reference, and nothing more.
    entries = db.execute("SELECT action, subject, details_json FROM audit_log "
                         "WHERE details_json LIKE ?", [f"%{receipt.receipt_id}%"]).fetchall()
    assert [e[0] for e in entries] == ["child.erase", "child.erase.proof"]
    assert all(e[1] == f"child:{family.child_id}" for e in entries)
    all_audit = json.dumps(db.execute("SELECT * FROM audit_log").fetchall())
    for secret in CANARIES:
        assert secret not in all_audit


@pytest.mark.backends("sqlite", "postgresql")
def test_erasing_someone_elses_child_is_refused_and_changes_nothing(
        tmp_path: Path, cloud_db_path: str) -> None:
    app, db, family = chatty_family(tmp_path, db_path=cloud_db_path)
    stranger = make_family(db)
    before = dump_tables(db)
    with pytest.raises(ErasureError):
        erase_child(db, child_id=family.child_id, parent_id=stranger.parent_id,
                    now=time.time(), db_path=_db_path(app))
    with pytest.raises(ErasureError):
        erase_child(db, child_id=987654, parent_id=None, now=time.time(),
                    db_path=_db_path(app))
    fact_id = db.execute("SELECT id FROM profile_facts LIMIT 1").fetchone()[0]
    assert not erase_item(db, child_id=family.child_id, parent_id=stranger.parent_id,
                          table="profile_facts", row_id=fact_id, now=time.time())
    assert not erase_item(db, child_id=stranger.child_id, parent_id=stranger.parent_id,
                          table="profile_facts", row_id=fact_id, now=time.time())
    with pytest.raises(ValueError):
        erase_item(db, child_id=family.child_id, parent_id=family.parent_id,
                   table="audit_log", row_id=1, now=time.time())
    with pytest.raises(ValueError):
        erase_item(db, child_id=family.child_id, parent_id=family.parent_id,
                   table="profile_facts", row_id="1; DROP TABLE children", now=time.time())
    assert dump_tables(db) == before


@pytest.mark.backends("sqlite", "postgresql")
def test_erase_item_removes_a_device_and_its_nonces(tmp_path: Path, cloud_db_path: str) -> None:
    _app, db, family = chatty_family(tmp_path, db_path=cloud_db_path)
    assert count(db, "seen_nonces", "device_id = ?", [family.device_id]) == 3
    assert erase_item(db, child_id=family.child_id, parent_id=family.parent_id,
                      table="devices", row_id=family.device_id, now=time.time())
    assert count(db, "devices", "id = ?", [family.device_id]) == 0
    assert count(db, "seen_nonces", "device_id = ?", [family.device_id]) == 0
    assert count(db, "children", "id = ?", [family.child_id]) == 1
