"""`teddy cloud` commands meet a wrong or damaged file with one clear line and exit 2, create
nothing beside it, refuse a newer schema, and keep every file they create owner-only."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from retention_helpers import cloud_cli

from cloud.storage.db import open_db
from cloud.storage.migrations import LATEST_VERSION
from teddy.cloud_process import CloudProcess

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (["serve", "--port", "1"], ["purge"], ["backup"], ["verify-audit"])


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("shopping: milk, eggs\n")
    return path


def _corrupt_db(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.db"
    db = open_db(str(path))
    db.close()
    data = bytearray(path.read_bytes())
    data[100:] = b"\x9b" * (len(data) - 100)  # the header survives, every page is garbage
    path.write_bytes(bytes(data))
    return path


def _newer_db(tmp_path: Path) -> Path:
    path = tmp_path / "newer.db"
    db = open_db(str(path))
    db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)",
               [LATEST_VERSION + 1])
    db.close()
    return path


@pytest.mark.parametrize("make_bad", [_text_file, _corrupt_db, _newer_db])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_bad_database_is_one_clear_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make_bad, command: list[str]  # type: ignore[no-untyped-def]
        ) -> None:
    bad = make_bad(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    content = bad.read_bytes()
    assert cloud_cli([command[0], "--db", str(bad), *command[1:]]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"teddy cloud {command[0]}: "), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing created beside it"
    assert bad.read_bytes() == content, "the file is left as it was"
    if make_bad is _newer_db:
        assert "newer" in lines[0]


def test_verify_audit_tells_cannot_open_from_tampered(tmp_path: Path) -> None:
    """Exit 1 means tampered; a file it cannot check is 2, seen from a real process."""
    bad = _text_file(tmp_path)
    result = subprocess.run([sys.executable, "-m", "teddy", "cloud", "verify-audit", "--db",
                             str(bad)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_served_databases_files_are_owner_only(tmp_path: Path) -> None:
    db_path = tmp_path / "cloud.db"
    old = os.umask(0o022)
    try:
        with CloudProcess(db_path, env={"TEDDY_PURGE_INTERVAL_S": "0"}) as server:
            assert cloud_cli(["backup", "--db", str(db_path)]) == 0
            files = {p.name: _mode(p) for p in tmp_path.iterdir()
                     if p.name.startswith("cloud.db") and p.is_file()
                     and not p.name.endswith(".server.log")}
            assert {"cloud.db", "cloud.db-wal", "cloud.db-shm"} <= set(files)
            assert all(mode == 0o600 for mode in files.values()), {
                name: oct(mode) for name, mode in files.items()}
            backups = tmp_path / "cloud.db.backups"
            assert _mode(backups) == 0o700
            assert all(_mode(p) == 0o600 for p in backups.iterdir())
            assert server.process is not None
    finally:
        os.umask(old)


def test_loose_existing_files_are_tightened_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db_path = tmp_path / "old.db"
    open_db(str(db_path)).close()
    key = tmp_path / "old.db.key"
    key.write_text("0" * 64)
    backups = tmp_path / "old.db.backups"
    backups.mkdir()
    (backups / "teddy-20260101T000000Z-abcdef.db").write_bytes(b"")
    for path, mode in ((db_path, 0o644), (key, 0o644), (backups, 0o755)):
        os.chmod(path, mode)
    os.chmod(backups / "teddy-20260101T000000Z-abcdef.db", 0o644)
    with caplog.at_level(logging.WARNING):
        open_db(str(db_path)).close()
    assert _mode(db_path) == 0o600 and _mode(key) == 0o600 and _mode(backups) == 0o700
    assert _mode(backups / "teddy-20260101T000000Z-abcdef.db") == 0o600
    assert "readable by other users" in caplog.text
