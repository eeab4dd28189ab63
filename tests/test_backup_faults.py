"""A backup that dies half-way (kill -9, a full disk) leaves nothing behind for long (R19)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlite_utils
from fault_helpers import small_disk
from retention_helpers import chatty_family, cloud_cli

from cloud.retention.backup import list_backups, remove_stale_partials
from cloud.retention.erasure import erase_child

REPO = Path(__file__).resolve().parents[1]

# Starts a real backup with the cloud's own code and holds it after the first step.
KILLABLE_BACKUP = textwrap.dedent("""
    import sys, time
    from cloud.retention import backup
    backup.STEP_PAGES = 1
    def hold(*_):
        print("copying", flush=True)
        time.sleep(600)
    backup._copy_progress = hold
    backup.create_backup(sys.argv[1], sys.argv[2], time.time())
""")


def _bulk_up(db: sqlite_utils.Database, child_id: int, megabytes: int) -> None:
    """Enough history rows to make the database `megabytes` large."""
    row = "x" * 900
    with db.conn:
        db.conn.executemany(
            "INSERT INTO intent_events (child_id, device_id, intent, slots_json, received_at, "
            "expires_at) VALUES (?, 'bulk', 'tell_story', ?, ?, ?)",
            [(child_id, f'{{"topic": "{row}{i}"}}', time.time(), time.time() + 86400)
             for i in range(megabytes * 1000)])


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_a_backup_on_a_full_disk_fails_cleanly_and_leaves_no_partial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app, db, family = chatty_family(tmp_path)
    _bulk_up(db, family.child_id, 4)
    db_path = app.config["TEDDY"].db_path
    with small_disk(tmp_path / "disk", "2m") as disk:
        assert cloud_cli(["backup", "--db", db_path, "--to", str(disk)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "nothing was kept" in err[0], err
        assert list(disk.iterdir()) == [], "a failed backup leaves no file behind"


def test_a_backup_killed_half_way_is_cleaned_up_by_the_next_backup_or_purge(
        tmp_path: Path) -> None:
    app, db, family = chatty_family(tmp_path)
    _bulk_up(db, family.child_id, 1)
    db_path = app.config["TEDDY"].db_path
    backups = Path(f"{db_path}.backups")
    for cleaner in (["backup", "--db", db_path], ["purge", "--db", db_path]):
        process = subprocess.Popen([sys.executable, "-c", KILLABLE_BACKUP, db_path, str(backups)],
                                   cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline().strip() == "copying"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert [n for n in _partials(backups) if n.endswith(".partial")], "the kill left a copy"
        assert cloud_cli(cleaner) == 0
        assert _partials(backups) == [], f"`teddy cloud {cleaner[0]}` removes it"


def test_a_backup_still_being_written_is_not_removed(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    live = folder / "teddy-20260101T000000Z-abcdef.db.partial"
    stale = folder / "teddy-20260101T000000Z-012345.db.partial"
    stale.write_bytes(b"half")
    with live.open("wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a running backup holds it
        assert remove_stale_partials(folder) == 1
        assert live.exists() and not stale.exists()


def test_an_erasure_receipt_does_not_count_a_stale_partial(tmp_path: Path) -> None:
    app, db, family = chatty_family(tmp_path)
    db_path = app.config["TEDDY"].db_path
    backups = Path(f"{db_path}.backups")
    assert cloud_cli(["backup", "--db", db_path]) == 0
    # What a killed backup leaves: a copy that still holds the child, under .partial.
    taken = list_backups(backups)[0].path
    (backups / (taken.name.replace("Z-", "Z-9") + ".partial")).write_bytes(taken.read_bytes())
    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=db_path)
    assert receipt.proof.clean, receipt.proof
    assert receipt.backups_rewritten == 1
    assert _partials(backups) == []
