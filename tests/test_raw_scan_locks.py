"""The raw-byte scans (erasure proof, key residue) must not cost the scanning process its
SQLite locks.

Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
included. A cloud worker that scanned its own live database lost its locks; another process
closing a connection then took itself for the last one and deleted the WAL under the worker,
whose next commit was lost (and, with the -shm truncated, the worker died of SIGBUS: the
interrupted-erasure story's flake). The scans now read from a child process.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud.keys.residue import scan_store_files
from cloud.retention.proof import scan_for_canaries
from cloud.storage.raw_bytes import CHUNK, COMPANION_SUFFIXES, search_file


def _read_in_this_process(db_path: Path) -> None:
    """The old scan's file handling: open, read and close each file here."""
    for suffix in COMPANION_SUFFIXES:
        path = Path(f"{db_path}{suffix}")
        if path.exists():
            with path.open("rb") as handle:
                handle.read()


def _commit_survives_a_scan(tmp_path: Path, scan: Callable[[Path], object]) -> tuple[bool, str]:
    """This process keeps a WAL connection open and scans its files; another process opens and
    closes a connection; then this process commits. Does another connection, opened while this
    one still is (as a server's workers stay), see the commit?"""
    db_path = tmp_path / "live.db"
    mine = sqlite3.connect(db_path, isolation_level=None)
    try:
        mine.execute("PRAGMA journal_mode=WAL")
        mine.execute("PRAGMA wal_autocheckpoint=0")
        mine.execute("CREATE TABLE t (x TEXT)")
        mine.execute("INSERT INTO t VALUES ('scarlett')")
        scan(db_path)
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect("
                        "sys.argv[1]); c.execute('SELECT count(*) FROM t').fetchone(); "
                        "c.close()", str(db_path)], check=True, timeout=60)
        wal_kept = Path(f"{db_path}-wal").exists()
        mine.execute("INSERT INTO t VALUES ('second')")
        other = sqlite3.connect(db_path)
        try:
            rows = other.execute("SELECT count(*) FROM t").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            return False, f"WAL kept: {wal_kept}; reading the commit back: {exc}"
        finally:
            other.close()
    finally:
        mine.close()
    return wal_kept and rows == 2, f"WAL kept: {wal_kept}; rows read back: {rows}"


def test_the_erasure_proof_scan_leaves_the_scanning_process_its_locks(tmp_path: Path) -> None:
    def proof_scan(db_path: Path) -> None:
        assert scan_for_canaries(db_path, ["scarlett"])  # it did read the live files

    survived, how = _commit_survives_a_scan(tmp_path, proof_scan)
    assert survived, how


def test_the_key_residue_scan_leaves_the_scanning_process_its_locks(tmp_path: Path) -> None:
    def residue_scan(db_path: Path) -> None:
        scan_store_files(db_path, b"scarlett")

    survived, how = _commit_survives_a_scan(tmp_path, residue_scan)
    assert survived, how


def test_negative_control_reading_the_files_in_process_loses_the_next_commit(
        tmp_path: Path) -> None:
    survived, how = _commit_survives_a_scan(tmp_path, _read_in_this_process)
    assert not survived, f"the in-process read should have cost the commit ({how})"


@pytest.mark.parametrize("offset", [0, CHUNK - 3, CHUNK - 1, 2 * CHUNK - 5, 3 * CHUNK + 7])
def test_chunked_search_finds_values_across_chunk_boundaries(tmp_path: Path,
                                                             offset: int) -> None:
    key = bytes(range(1, 33))
    data = bytearray(5 * CHUNK)  # mostly zeros, as secure_delete leaves freed pages
    data[offset:offset + 8] = b"scarlett"
    data[offset + 4 * CHUNK // 3:offset + 4 * CHUNK // 3 + 32] = key
    path = tmp_path / "blob"
    path.write_bytes(bytes(data))
    found = search_file(str(path), [b"scarlett"], [hashlib.sha256(key).digest()], 32)
    assert found.hits == sorted([(0, offset), (1, offset + 4 * CHUNK // 3)],
                                key=lambda hit: hit[1])
    assert found.bytes_read == len(data)
