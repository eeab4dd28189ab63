"""A named, expiring turn held in the database: one purge or erasure runner at a time.

Before issue 18 these turns were `flock`s on files beside the SQLite database, which only
processes on one host can see. A lease row works wherever the database is reachable: a
server takes it with one conditional upsert that succeeds only if the row is free, expired
or already its own, renews it while it works, and deletes it when done. A holder that dies
stops renewing, so after `ttl_s` any other server takes over; no holder blocks for ever.

Expiry is measured on the servers' own wall clocks (time.time()), not the cloud's clock,
which scenarios move by days: hosts sharing a database are expected to keep NTP time, and
a lease lasts a minute, far beyond any sane skew. A flock was handed over the moment its
holder died; a lease does the same when the dead holder ran on this host (its process is gone:
a server killed mid-erasure and restarted carries on at once). A holder on another host is
waited out for the TTL, since no server can see another host's processes.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from cloud.storage.db import open_db

log = logging.getLogger(__name__)
PURGE = "purge"
ERASURE_RUNNER = "erasure-runner"
DEFAULT_TTL_S = 60.0
# Renew this often relative to the TTL: two renewals may fail (a busy database) before it lapses.
RENEWALS_PER_TTL = 3
POLL_S = 0.2


def new_holder() -> str:
    """Names the host and process for an operator reading the table, plus a random tail so
    two turns taken by one process are never confused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_dead_here(holder: str) -> bool:
    """True when `holder` (see new_holder) names a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A killed process stays a zombie until its parent reaps it (about 1.5 s measured under
    # load), and signal 0 still reaches a zombie: it runs no code and holds nothing.
    return _process_state(pid) in {"Z", "X"}


def _process_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat (R running, S sleeping, Z zombie ...), or "" where
    there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
    except OSError:
        return ""
    # The command name in parentheses may itself hold spaces or ')', so read after the last.
    return stat.rpartition(")")[2].split()[0] if ")" in stat else ""


class LeaseLost(RuntimeError):
    """The lease this work runs under lapsed and another holder took it: the write is refused
    (fencing), so a holder that was paused past its lease cannot overwrite its successor."""


class Lease:
    """One holder's view of a named lease, on a connection of its own."""

    def __init__(self, db: sqlite_utils.Database, name: str, *, ttl_s: float = DEFAULT_TTL_S,
                 holder: str | None = None) -> None:
        if ttl_s <= 0:
            raise ValueError("a lease needs a positive ttl_s")
        self.db = db
        self.name = name
        self.ttl_s = ttl_s
        self.holder = holder or new_holder()

    def try_take(self) -> bool:
        """Take the lease if it is free, expired, ours already, or held by a process of this
        host that has died; True if we now hold it."""
        current = self.current_holder()
        if current is not None and holder_is_dead_here(current[0]):
            # Only that dead holder's row is replaced: a live server that took it meanwhile
            # keeps it.
            self.db.execute("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?",
                            [self.name, current[0]])
        now = time.time()
        rows = self.db.execute(
            "INSERT INTO leases (name, holder, taken_at, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "taken_at = excluded.taken_at, expires_at = excluded.expires_at "
            "WHERE leases.expires_at <= ? OR leases.holder = ? RETURNING holder",
            [self.name, self.holder, now, now + self.ttl_s, now, self.holder]).fetchall()
        return bool(rows) and rows[0][0] == self.holder

    def renew(self) -> bool:
        """Push the expiry on; False if the lease lapsed and someone else took it."""
        cursor = self.db.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
            [time.time() + self.ttl_s, self.name, self.holder])
        return cursor.rowcount == 1

    def fence(self, db: sqlite_utils.Database) -> None:
        """Inside the caller's write transaction on `db`: go on only if this lease is still
        ours, renewing it in the same transaction; LeaseLost otherwise. The check and the
        caller's writes commit together or not at all."""
        cursor = db.execute("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                            [time.time() + self.ttl_s, self.name, self.holder])
        if cursor.rowcount != 1:
            raise LeaseLost(f"the {self.name} lease was taken over by another holder; this "
                            "holder's writes are refused")

    def release(self) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?",
                        [self.name, self.holder])

    def current_holder(self) -> tuple[str, float] | None:
        row = self.db.execute("SELECT holder, expires_at FROM leases WHERE name = ?",
                              [self.name]).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))


class _Renewer:
    """Renews a held lease in a daemon thread until stopped; notes if it was lost."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"teddy-lease-{lease.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease.ttl_s / RENEWALS_PER_TTL):
            try:
                if not self.lease.renew():
                    self.lost = True
                    log.error("lease %r lapsed and was taken over while its work went on",
                              self.lease.name)
                    return
            except Exception:
                # A busy database (a long VACUUM on SQLite) may fail one renewal; the next
                # one, a third of the TTL later, tries again before the lease lapses.
                log.warning("renewing lease %r failed; retrying", self.lease.name,
                            exc_info=True)


_held: contextvars.ContextVar[dict[str, Lease] | None] = contextvars.ContextVar(
    "teddy_leases_held", default=None)


def fence(db: sqlite_utils.Database, name: str) -> None:
    """Fence a write made inside `holding(..., name)`: LeaseLost if the lease went to another
    holder. Outside any such block (a request starting a job) there is nothing to check."""
    held = (_held.get() or {}).get(name)
    if held is not None:
        held.fence(db)


@contextlib.contextmanager
def holding(db_path: str, name: str, *, wait: bool, ttl_s: float = DEFAULT_TTL_S,
            poll_s: float = POLL_S) -> Iterator[bool]:
    """Hold the named lease for the duration of the block, renewed in the background.

    Yields False at once when `wait` is off and another live holder has it; with `wait`,
    polls until the holder releases it or its lease expires.
    """
    db = open_db(db_path, migrate_schema=False)
    try:
        lease = Lease(db, name, ttl_s=ttl_s)
        while not lease.try_take():
            if not wait:
                yield False
                return
            time.sleep(poll_s)
        renewer = _Renewer(lease)
        renewer.start()
        token = _held.set({**(_held.get() or {}), name: lease})
        try:
            yield True
        finally:
            _held.reset(token)
            renewer.stop()
            try:
                lease.release()
            except Exception:
                # Never let a failed release hide what the block raised: the lease expires
                # on its own within ttl_s.
                log.warning("releasing lease %r failed; it expires in %.0f s", name, ttl_s,
                            exc_info=True)
    finally:
        db.close()
