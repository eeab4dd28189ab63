"""Real faults for tests: a small full disk (tmpfs), a database another process keeps locked."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

# SQLite's write lock, or on PostgreSQL the writer advisory lock: both are what BEGIN
# IMMEDIATE takes through the cloud's own connect().
HOLD_WRITE_LOCK = textwrap.dedent("""
    import sys, time
    from cloud.storage.db import connect
    db = connect(sys.argv[1])
    db.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
""")


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (needs root); the test is skipped where mounting
    is refused, since only a real filesystem gives the real ENOSPC path."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> None:
    """Write one file until the disk under `folder` refuses another byte."""
    with (folder / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\xff" * 65536)
                handle.flush()
        except OSError:
            pass
    with contextlib.suppress(OSError), (folder / "filler-tail").open("wb") as handle:
        while True:
            handle.write(b"\xff")
            handle.flush()


@contextlib.contextmanager
def write_lock_held(db_path: str, seconds: float = 30.0) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock, as a stuck admin shell would."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, db_path, str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()
