"""Backups stay inside the retention policy and lose an erased child (R19, issue 7 item 5)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from cloud_helpers import make_family
from retention_helpers import DAY_S, chatty_family, cloud_cli, count, later

from cloud.clock import Clock
from cloud.keys.fields import open_value
from cloud.retention.backup import backup_dir_for, create_backup, list_backups
from cloud.retention.erasure import erase_child
from cloud.retention.policy import backup_retention_days
from cloud.retention.proof import scan_for_canaries
from cloud.retention.purge import purge_expired


def _rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])


def test_cli_backup_is_a_consistent_self_contained_copy(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    app, _db, _family = chatty_family(tmp_path)
    db_path = app.config["TEDDY"].db_path
    assert cloud_cli(["backup", "--db", db_path]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.parent == backup_dir_for(db_path) and written.exists()
    assert [b.path for b in list_backups(written.parent)] == [written]
    with sqlite3.connect(written) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _rows(written, "intent_events") == 3
    assert not Path(f"{written}-wal").exists()
    assert cloud_cli(["backup", "--db", str(tmp_path / "missing.db")]) == 2


def test_erasure_rewrites_backups_without_the_child_and_keeps_the_others(tmp_path: Path
                                                                          ) -> None:
    app, db, family = chatty_family(tmp_path)
    other = make_family(db, first_name="Bartholomew")
    db_path = app.config["TEDDY"].db_path
    backup_dir = tmp_path / "backups"
    taken = create_backup(db_path, backup_dir, time.time())
    # The backup holds the child's toy key in plaintext, its name and favourite only sealed.
    assert scan_for_canaries(db_path, [family.secret], backup_dir)
    assert scan_for_canaries(db_path, ["quokkadragon"], backup_dir) == []

    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=db_path, backup_dir=backup_dir)
    assert receipt.backups_rewritten == 1 and receipt.proof.clean
    assert scan_for_canaries(db_path, ["Zelphinia", "zelphinia", "quokkadragon",
                                       family.secret], backup_dir) == []
    with sqlite3.connect(taken) as conn:
        assert conn.execute("SELECT count(*) FROM children WHERE id = ?",
                            [family.child_id]).fetchone()[0] == 0
        kept = conn.execute("SELECT first_name FROM children WHERE id = ?",
                            [other.child_id]).fetchone()[0]
        assert open_value(db, other.child_id, "children", "first_name", kept) == "Bartholomew"
    assert not list(backup_dir.glob("*-journal"))


def test_purge_deletes_old_backups_and_ages_young_ones(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock"
    app, db, _family = chatty_family(tmp_path)
    db_path = app.config["TEDDY"].db_path
    backup_dir = tmp_path / "backups"
    old = create_backup(db_path, backup_dir, time.time())
    Clock(str(clock_file)).advance(10 * DAY_S)
    young = create_backup(db_path, backup_dir, Clock(str(clock_file)).time())
    assert _rows(young, "intent_events") == 3

    # Day 31: the day-0 backup is past its 30 days and goes; the day-10 one stays but loses
    # the history that has expired meanwhile.
    report = purge_expired(db, later(31), backup_dir=backup_dir)
    assert backup_retention_days() == 30
    assert report.backups_deleted == 1 and report.backups_rewritten == 1
    assert not old.exists() and young.exists()
    assert _rows(young, "intent_events") == 0
    assert count(db, "intent_events") == 0
    # The story request's exact slots text lived only in history rows.
    assert scan_for_canaries(db_path, ['"topic": "dragons"'], backup_dir) == []
