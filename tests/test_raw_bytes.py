"""Scanning the database's own files never breaks the cloud's SQLite locks.

Closing any descriptor of a file drops every POSIX lock the process holds on it, so a cloud
worker that read cloud.db-shm itself let another process take itself for SQLite's last user
and delete the WAL and its index under live connections (a "disk I/O error", then a malformed
database). The scans read the files in a child process instead; the negative control reads
them in-process, as before, and shows the WAL deleted.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cloud.retention.proof import scan_for_canaries
from cloud.storage.raw_bytes import COMPANION_SUFFIXES, count_windows_with_digest, find_in_files


def _companions_after_another_process_leaves(db: Path, read: Callable[[Path], object]) -> set[str]:
    """Keep a WAL connection open here, read the files, let another process open and close a
    connection, and list the files left. SQLite deletes the -wal and -shm only when it
    believes no other connection is open."""
    here = sqlite3.connect(db, isolation_level=None)
    try:
        here.execute("PRAGMA journal_mode=WAL")
        here.execute("CREATE TABLE t (name TEXT)")
        here.execute("INSERT INTO t VALUES ('Canary Emma')")
        read(db)
        subprocess.run([sys.executable, "-c", "import sqlite3, sys\n"
                        "c = sqlite3.connect(sys.argv[1]); c.execute('SELECT * FROM t')"
                        ".fetchall(); c.close()", str(db)], check=True, timeout=30)
        return {p.name.removeprefix(db.name) for p in db.parent.glob(db.name + "*")}
    finally:
        here.close()


def _files(db: Path) -> list[Path]:
    return [path for suffix in COMPANION_SUFFIXES if (path := Path(f"{db}{suffix}")).exists()]


def test_a_scan_leaves_the_live_databases_wal_in_place(tmp_path: Path) -> None:
    db = tmp_path / "cloud.db"
    left = _companions_after_another_process_leaves(
        db, lambda path: scan_for_canaries(path, ["Canary Emma"]))
    assert {"-wal", "-shm"} <= left


def test_negative_control_reading_in_process_lets_the_wal_be_deleted(tmp_path: Path) -> None:
    def read_here(path: Path) -> None:
        for file in _files(path):
            file.read_bytes()

    left = _companions_after_another_process_leaves(tmp_path / "cloud.db", read_here)
    assert "-wal" not in left and "-shm" not in left


def test_the_child_finds_every_occurrence_and_counts_key_windows(tmp_path: Path) -> None:
    import hashlib

    key = bytes(range(1, 33))
    file = tmp_path / "blob"
    file.write_bytes(b"x" * 70_000 + b"needle" + bytes(200_000) + key + b"needle" + key)
    assert [(o, i) for _, o, i in find_in_files([file], [b"needle", b"absent"])] == [
        (70_000, 0), (270_038, 0)]
    assert count_windows_with_digest([file], 32, hashlib.sha256(key).digest()) == 2
    assert find_in_files([tmp_path / "gone-wal"], [b"needle"]) == []
