"""Reading a database's files as plain bytes, as a forensic reader of the disk would.

Both the erasure proof (cloud.retention.proof) and the key-residue scan (cloud.keys.residue)
search the same files the same way; the shared part lives here, below both.

The reading is done by a separate, short-lived process (`search_files`), never by the
process asking. Closing any file descriptor of a file drops every POSIX lock the closing
process holds on that file, SQLite's own locks included (SQLite's "How To Corrupt Your
Database Files", 2.2). A server worker that read its live database, WAL or -shm and closed
them lost its locks while its connections stayed open: another process then took itself for
the last user, checkpointed and deleted the WAL or truncated the -shm under it, and the worker
died of SIGBUS or its next commit went to a deleted WAL (the interrupted-erasure story's flake;
docs/retention.md). The child holds no SQLite connection, so its closes cost nothing.

Files are read in chunks, never mapped: a file another process truncates mid-scan (a WAL
checkpoint with TRUNCATE) just ends early, where a mapping would raise SIGBUS.

This module uses the standard library only: the child runs it as a script in isolated mode
(`python -I -S -B`: no site-packages, writes no bytecode), which starts in a few
hundredths of a second.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# The database file itself and every companion SQLite may leave beside it.
COMPANION_SUFFIXES = ("", "-wal", "-journal", "-shm")
# secure_delete leaves freed space as zeros; skipping all-zero chunks makes a scan of a mostly
# purged file cheap.
CHUNK = 64 * 1024
_ZEROS = bytes(CHUNK)
# A scan of the whole database and its backups; far beyond any real one (1 GB/s warm here).
CHILD_TIMEOUT_S = 600.0


class RawScanError(RuntimeError):
    """The process reading the files failed; nothing is known about what they hold."""


@dataclass(frozen=True)
class FileHits:
    path: str
    bytes_read: int
    # (index of the pattern or digest searched for, byte offset in the file)
    hits: list[tuple[int, int]]


def _blocks(path: str) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each chunk until the end of the file as it is while being read."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, in this process only
    except FileNotFoundError:
        return  # removed since it was listed (a WAL deleted by the last connection to close)
    with handle:
        offset = 0
        while True:
            block = handle.read(CHUNK)
            if not block:
                return
            yield offset, block
            offset += len(block)


def search_file(path: str, patterns: Sequence[bytes], digests: Sequence[bytes],
                width: int) -> FileHits:
    """Every offset of each pattern, and of each `width`-byte window whose SHA-256 is one of
    `digests`, in the file. Runs in the child (see `search_files`)."""
    keep = max([len(p) for p in patterns] + [width if digests else 0, 1]) - 1
    wanted = set(digests)
    hits: list[tuple[int, int]] = []
    carry = b""
    read = 0
    for offset, block in _blocks(path):
        read = offset + len(block)
        buffer = carry + block
        start = offset - len(carry)  # the file offset of buffer[0]
        # A match lies wholly in what was searched before unless it ends in this block.
        fresh = len(carry)
        if block != _ZEROS[:len(block)] or any(carry):
            for index, pattern in enumerate(patterns):
                at = buffer.find(pattern, max(0, fresh - len(pattern) + 1))
                while at != -1:
                    hits.append((index, start + at))
                    at = buffer.find(pattern, at + 1)
            if wanted:
                sha = hashlib.sha256
                for at in range(max(0, fresh - width + 1), len(buffer) - width + 1):
                    digest = sha(buffer[at:at + width]).digest()
                    if digest in wanted:
                        hits.append((len(patterns) + digests.index(digest), start + at))
        carry = buffer[len(buffer) - keep:] if keep else b""
    return FileHits(path, read, sorted(set(hits), key=lambda hit: (hit[1], hit[0])))


def search_files(paths: Sequence[str], patterns: Sequence[bytes],
                 digests: Sequence[bytes] = (), width: int = 0) -> list[FileHits]:
    """Search the files' raw bytes from a child process (see the module's docstring); hit
    indices number `patterns` first, then `digests`. RawScanError if the child fails."""
    if not paths:
        return []
    request = json.dumps({"paths": list(paths), "patterns": [p.hex() for p in patterns],
                          "digests": [d.hex() for d in digests], "width": width})
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-B", __file__], input=request,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RawScanError(f"the raw-byte scan could not run: {exc}") from exc
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RawScanError(f"the raw-byte scan failed: {said}")
    return [FileHits(item["path"], int(item["bytes_read"]),
                     [(int(index), int(at)) for index, at in item["hits"]])
            for item in json.loads(done.stdout)]


def _main() -> None:
    request = json.load(sys.stdin)
    patterns = [bytes.fromhex(p) for p in request["patterns"]]
    digests = [bytes.fromhex(d) for d in request["digests"]]
    found = [search_file(path, patterns, digests, int(request["width"]))
             for path in request["paths"]]
    json.dump([{"path": f.path, "bytes_read": f.bytes_read, "hits": f.hits} for f in found],
              sys.stdout)


if __name__ == "__main__":
    _main()
