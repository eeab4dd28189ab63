"""Reading a database's files as plain bytes, as a forensic reader of the disk would.

Both the erasure proof (cloud.retention.proof) and the key-residue scan (cloud.keys.residue)
search the same files the same way; the shared part lives here, below both."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

# The database file itself and every companion SQLite may leave beside it.
COMPANION_SUFFIXES = ("", "-wal", "-journal", "-shm")
# secure_delete leaves freed space as zeros; skipping all-zero chunks makes a scan of a mostly
# purged file cheap. A searched value holds no NUL byte, so it can never lie in a zero chunk.
CHUNK = 64 * 1024
_ZEROS = bytes(CHUNK)


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
