"""Reading a database's files as plain bytes, as a forensic reader of the disk would.

Both the erasure proof (cloud.retention.proof) and the key-residue scan (cloud.keys.residue)
search the same files the same way; the shared part lives here, below both.

The reading happens in a short-lived child process, never in the caller's. SQLite locks its
files with POSIX advisory locks, and closing *any* descriptor of a file drops every such lock
the process holds on it. A cloud worker that opened cloud.db-shm to scan it and closed it again
silently gave up its connections' locks; another worker then took itself for the last user,
reset the shared WAL index and deleted it, and the next write failed with "disk I/O error"
and left a malformed database (seen in the parent browser journey's third erasure). A child
process's descriptors are its own, so its closing them cannot touch the cloud's locks.

This file runs as a script in the child (`python -I -S raw_bytes.py`), so it imports nothing
but the standard library.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

# The database file itself and every companion SQLite may leave beside it.
COMPANION_SUFFIXES = ("", "-wal", "-journal", "-shm")
# secure_delete leaves freed space as zeros; skipping all-zero chunks makes a scan of a mostly
# purged file cheap. A searched value holds no NUL byte, so it can never lie in a zero chunk.
CHUNK = 64 * 1024
_ZEROS = bytes(CHUNK)
# A scan of every file of a large cloud takes seconds; this only stops a child that hangs.
CHILD_TIMEOUT_S = 600


class RawScanError(OSError):
    """The child process reading the files failed; the message says how."""


def nonzero_runs(data: mmap.mmap | bytes, size: int) -> Iterator[tuple[int, int]]:
    """(start, end) of maximal runs of chunks that hold any non-zero byte."""
    start: int | None = None
    for offset in range(0, size, CHUNK):
        end = min(offset + CHUNK, size)
        zero = data[offset:end] == _ZEROS[: end - offset]
        if zero and start is not None:
            yield start, offset
            start = None
        elif not zero and start is None:
            start = offset
    if start is not None:
        yield start, size


def find_in_files(paths: Sequence[Path], patterns: Sequence[bytes]) -> list[tuple[str, int, int]]:
    """(file, offset, pattern index) of every occurrence of every pattern, read by a child."""
    return [(str(f), int(o), int(i)) for f, o, i in _in_child(
        {"op": "find", "paths": [str(p) for p in paths], "patterns": [p.hex() for p in patterns]})]


def count_windows_with_digest(paths: Sequence[Path], width: int, digest: bytes) -> int:
    """How many `width`-byte windows of the files hash (SHA-256) to `digest`, read by a child."""
    return int(_in_child({"op": "digest", "paths": [str(p) for p in paths], "width": width,
                          "digest": digest.hex()}))


def _in_child(request: dict) -> object:
    try:
        result = subprocess.run([sys.executable, "-I", "-S", __file__],
                                input=json.dumps(request), capture_output=True, text=True,
                                timeout=CHILD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RawScanError(f"could not read the files in a child process: {error}") from error
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise RawScanError(f"reading the files failed: {last}")
    return json.loads(result.stdout)


# -- the child's side -------------------------------------------------------------------------

def _mapped(path: str) -> Iterator[tuple[mmap.mmap, int]]:
    try:
        size = Path(path).stat().st_size
    except FileNotFoundError:
        return  # a -wal or -shm SQLite removed since the caller listed it holds nothing now
    if size == 0:
        return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        yield m, size


def _find(paths: list[str], patterns: list[bytes]) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    for path in paths:
        for data, size in _mapped(path):
            for start, end in nonzero_runs(data, size):
                for index, pattern in enumerate(patterns):
                    at = data.find(pattern, start, end)
                    while at != -1:
                        found.append((path, at, index))
                        at = data.find(pattern, at + 1, end)
    return found


def _digest_windows(paths: list[str], width: int, digest: bytes) -> int:
    count = 0
    sha = hashlib.sha256
    for path in paths:
        for data, size in _mapped(path):
            for start, end in nonzero_runs(data, size):
                chunk = data[start:end]
                count += sum(1 for i in range(len(chunk) - width + 1)
                             if sha(chunk[i:i + width]).digest() == digest)
    return count


def _serve(request: dict) -> object:
    if request["op"] == "find":
        return _find(request["paths"], [bytes.fromhex(p) for p in request["patterns"]])
    return _digest_windows(request["paths"], int(request["width"]),
                           bytes.fromhex(request["digest"]))


if __name__ == "__main__":
    json.dump(_serve(json.load(sys.stdin)), sys.stdout)
