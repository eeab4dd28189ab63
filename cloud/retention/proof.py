"""Proof of erasure from the files themselves: search raw bytes for canary values (R19).

The scan reads the database file, its -wal, -journal and -shm companions and every backup as
plain bytes, never through SQLite, so it sees what a forensic reader of the disk would see,
including freed pages and old WAL frames, and opening nothing can change the evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cloud.storage.raw_bytes import COMPANION_SUFFIXES, search_files

MIN_CANARY_CHARS = 3
MAX_CANARY_CHARS = 256


@dataclass(frozen=True)
class Finding:
    file: str
    offset: int
    canary: str

    def __str__(self) -> str:
        return f"{self.file}: offset {self.offset}: canary found"


class CanaryError(ValueError):
    """A canary the scan cannot search for meaningfully."""


def check_canary(canary: str) -> None:
    if not isinstance(canary, str):
        raise CanaryError("a canary must be text")
    if "\x00" in canary:
        raise CanaryError("a canary may not contain a NUL character")
    if not MIN_CANARY_CHARS <= len(canary) <= MAX_CANARY_CHARS:
        # Shorter strings turn up by chance in any file; the scan would prove nothing.
        raise CanaryError(f"a canary needs {MIN_CANARY_CHARS} to {MAX_CANARY_CHARS} characters")


def encodings(canary: str) -> list[bytes]:
    """Every form the value may take on disk: UTF-8 text, and JSON-escaped inside JSON columns."""
    forms = [canary.encode("utf-8")]
    escaped = json.dumps(canary)[1:-1].encode("ascii")
    if escaped not in forms:
        forms.append(escaped)
    return forms


def files_to_scan(db_path: str | Path, backup_dir: str | Path | None = None) -> list[Path]:
    base = str(db_path)
    found = [Path(base + suffix) for suffix in COMPANION_SUFFIXES]
    files = [p for p in found if p.exists()]
    if backup_dir is not None and Path(backup_dir).is_dir():
        for backup in sorted(Path(backup_dir).iterdir()):
            if backup.is_file():
                files.append(backup)
    return files


def scan_for_canaries(db_path: str | Path, canaries: Iterable[str],
                      backup_dir: str | Path | None = None) -> list[Finding]:
    """Every place any canary occurs in the database, its companions and the backups.

    The files are read by a child process (cloud.storage.raw_bytes): reading a live database
    from a process that holds connections to it would drop that process's SQLite locks."""
    wanted = list(dict.fromkeys(canaries))
    for canary in wanted:
        check_canary(canary)
    patterns = [(canary, form) for canary in wanted for form in encodings(canary)]
    files = files_to_scan(db_path, backup_dir)
    if not patterns:
        return []
    searched = search_files([str(path) for path in files], [form for _c, form in patterns])
    return [Finding(found.path, offset, patterns[index][0])
            for found in searched for index, offset in found.hits]


def scanned_bytes(db_path: str | Path, backup_dir: str | Path | None = None) -> int:
    return sum(p.stat().st_size for p in files_to_scan(db_path, backup_dir))
