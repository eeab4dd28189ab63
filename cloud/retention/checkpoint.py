"""Moving WAL frames into the database file and emptying the WAL, with a bound on waiting.

With secure_delete on, a DELETE writes zeroed pages, but into the WAL: the database file keeps
the old page, and older WAL frames keep earlier copies, until a checkpoint copies the frames
back and a TRUNCATE empties the WAL file (R19). An open reader pins its snapshot and blocks
that, so we retry a bounded number of times and say so when it cannot finish, never hang.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlite_utils

from cloud.seam import seam_point
from cloud.storage.db import in_transaction, is_postgres

ATTEMPTS = 5
PAUSE_S = 0.05
# Per attempt, how long SQLite itself waits on a busy reader or writer.
ATTEMPT_BUSY_MS = 100


@dataclass(frozen=True)
class CheckpointResult:
    complete: bool
    attempts: int
    wal_frames_left: int
    elapsed_s: float

    @property
    def problem(self) -> str | None:
        if self.complete:
            return None
        return (f"WAL checkpoint could not finish after {self.attempts} attempts: another "
                "connection holds an open read or write transaction; deleted bytes may remain "
                "in the -wal or database file until the next checkpoint")


@seam_point("checkpoint_truncate")
def checkpoint_truncate(db: sqlite_utils.Database, *, attempts: int = ATTEMPTS,
                        pause_s: float = PAUSE_S) -> CheckpointResult:
    if in_transaction(db):
        raise RuntimeError("checkpoint_truncate needs a connection outside any transaction")
    if is_postgres(db):
        # No WAL file of ours to empty: PostgreSQL's WAL and its recycling are the server's
        # (what erasure can promise there is key-based, docs/cloud.md "Backends").
        return CheckpointResult(True, 0, 0, 0.0)
    started = time.monotonic()
    previous_busy_ms = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
    db.execute(f"PRAGMA busy_timeout={ATTEMPT_BUSY_MS}")
    try:
        frames_left = -1
        for attempt in range(1, attempts + 1):
            busy, log_frames, checkpointed = db.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            # busy 0: every frame is in the database file and the WAL is zero bytes long (or
            # the database is not in WAL mode at all, and there is nothing to move).
            if busy == 0:
                return CheckpointResult(True, attempt, 0, time.monotonic() - started)
            frames_left = max(0, log_frames - max(checkpointed, 0))
            if attempt < attempts:
                time.sleep(pause_s * attempt)
        return CheckpointResult(False, attempts, frames_left, time.monotonic() - started)
    finally:
        db.execute(f"PRAGMA busy_timeout={previous_busy_ms}")
