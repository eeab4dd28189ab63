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
from cloud.storage.raw_bytes import COMPANION_SUFFIXES, search_files


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


def scan_store_files(location: str | Path, key: bytes | None = None, *,
                     digest: bytes | None = None) -> KeyResidue:
    """How many copies of the key (given, or known by its SHA-256 digest) the store's files
    still hold."""
    if (key is None) == (digest is None):
        raise ValueError("search for a key or for a digest, not both or neither")
    # Read by a child process (cloud.storage.raw_bytes): this process holds the store open,
    # and closing a file of it here would drop the store's SQLite locks.
    files = store_files(location)
    searched = search_files([str(p) for p in files], [key] if key is not None else [],
                            [digest] if digest is not None else [], KEY_BYTES)
    return KeyResidue(copies=sum(len(found.hits) for found in searched),
                      files_scanned=len(files),
                      bytes_scanned=sum(found.bytes_read for found in searched))
