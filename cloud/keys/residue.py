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
import mmap
from dataclasses import dataclass
from pathlib import Path

from cloud.keys.envelope import KEY_BYTES
from cloud.storage.raw_bytes import COMPANION_SUFFIXES, nonzero_runs


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


def _count_in(path: Path, key: bytes | None, digest: bytes | None) -> int:
    size = path.stat().st_size
    if size == 0:
        return 0
    copies = 0
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for start, end in nonzero_runs(data, size):
            if key is not None:
                at = data.find(key, start, end)
                while at != -1:
                    copies += 1
                    at = data.find(key, at + 1, end)
                continue
            chunk = data[start:end]
            sha = hashlib.sha256
            copies += sum(1 for i in range(len(chunk) - KEY_BYTES + 1)
                          if sha(chunk[i:i + KEY_BYTES]).digest() == digest)
    return copies


def scan_store_files(location: str | Path, key: bytes | None = None, *,
                     digest: bytes | None = None) -> KeyResidue:
    """How many copies of the key (given, or known by its SHA-256 digest) the store's files
    still hold."""
    if (key is None) == (digest is None):
        raise ValueError("search for a key or for a digest, not both or neither")
    files = store_files(location)
    return KeyResidue(copies=sum(_count_in(p, key, digest) for p in files),
                      files_scanned=len(files),
                      bytes_scanned=sum(p.stat().st_size for p in files))
