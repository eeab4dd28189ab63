"""Searching the key store's own files for a destroyed key's bytes: the proof that destroying
it was physical, not just a row marked deleted.

The search reads the store's file and its -wal, -journal and -shm companions as raw bytes,
never through SQLite, as a forensic reader of the disk would. Right after a destruction the
key is still in memory and is searched for as it is. A search redone later (a crash came
between destroying the key and searching) has only the tombstone's SHA-256 fingerprint, so it
hashes every 32-byte window of the files' non-zero regions: slower, and needed only then.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cloud.keys.envelope import KEY_BYTES
from cloud.storage.raw_bytes import (
    COMPANION_SUFFIXES,
    count_windows_with_digest,
    find_in_files,
)


@dataclass(frozen=True)
class KeyResidue:
    copies: int
    files_scanned: int
    bytes_scanned: int


def fingerprint(key: bytes | None) -> bytes | None:
    return None if key is None else hashlib.sha256(key).digest()


def store_files(location: str | Path) -> list[Path]:
    candidates = [Path(f"{location}{suffix}") for suffix in COMPANION_SUFFIXES]
    return [p for p in candidates if p.exists()]


def _copies_in(files: list[Path], key: bytes | None, digest: bytes | None) -> int:
    # Read in a child process: see cloud/storage/raw_bytes.py for why never in the cloud's own.
    if key is not None:
        return len(find_in_files(files, [key]))
    assert digest is not None
    return count_windows_with_digest(files, KEY_BYTES, digest)


def scan_store_files(location: str | Path, key: bytes | None = None, *,
                     digest: bytes | None = None) -> KeyResidue:
    """How many copies of the key (given, or known by its SHA-256 digest) the store's files
    still hold."""
    if (key is None) == (digest is None):
        raise ValueError("search for a key or for a digest, not both or neither")
    files = store_files(location)
    return KeyResidue(copies=_copies_in(files, key, digest) if files else 0,
                      files_scanned=len(files),
                      bytes_scanned=sum(p.stat().st_size for p in files))
