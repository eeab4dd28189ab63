"""The purge, on a schedule, inside the running cloud (R16, R21).

gunicorn preloads the app in its master and forks two workers. A thread started in the master
would not survive the fork, and forking while it held a lock is unsafe, so nothing starts at
create_app time: each worker process starts its own daemon thread right after it is forked,
and a non-forking server (tests, `flask run`) calls `start()` itself. The purge lease in the
database (cloud.fleet.lease) makes the workers of every app server on that database take
turns: whoever holds it purges, the others skip that round; a holder that dies loses it when
it expires. The thread waits on an Event, so `stop()` ends it at once, and an
atexit hook stops it when the worker exits; being a daemon, it can never keep a process alive.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref

from flask import Flask

from cloud.clock import Clock
from cloud.config import CloudConfig
from cloud.fleet import lease

log = logging.getLogger(__name__)
EXTENSION = "teddy.purge_scheduler"


class PurgeScheduler:
    def __init__(self, config: CloudConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lease_ttl_s = lease.DEFAULT_TTL_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self.rounds = 0

    @property
    def running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive()
                and self._pid == os.getpid())

    def start(self) -> None:
        if self.config.purge_interval_s <= 0 or self.running:
            return
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="teddy-purge", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.config.purge_interval_s):
            try:
                self.run_once()
            except Exception:
                # A failed round must not end the schedule; the next one retries.
                log.exception("scheduled purge failed")

    def run_once(self) -> bool:
        """Purge now unless another process is already purging; True if this one did."""
        from cloud.retention.backup import backup_dir_for
        from cloud.retention.purge import purge_expired
        from cloud.storage.db import open_db

        with lease.holding(self.config.db_path, lease.PURGE, wait=False,
                           ttl_s=self.lease_ttl_s) as mine:
            if not mine:
                return False
            db = open_db(self.config.db_path, migrate_schema=False)
            try:
                report = purge_expired(
                    db, self.clock.time(), inactive_profile_days=self.config.inactive_profile_days,
                    backup_dir=backup_dir_for(self.config.db_path, self.config.backup_dir))
            finally:
                db.close()
        self.rounds += 1
        if report.total_rows or report.children_erased:
            log.info("purge: %d rows, %d inactive children erased", report.total_rows,
                     report.children_erased)
        return True


def start_purge_scheduler(app: Flask) -> PurgeScheduler:
    """Attach a scheduler to the app and start one in every process forked from this one."""
    scheduler = PurgeScheduler(app.config["TEDDY"], app.extensions["teddy.clock"])
    app.extensions[EXTENSION] = scheduler
    ref = weakref.ref(scheduler)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.start()

    def _at_exit() -> None:
        alive = ref()
        if alive is not None:
            alive.stop(1.0)

    # Weak references: an app that is thrown away (as tests do) takes its scheduler with it.
    os.register_at_fork(after_in_child=_after_fork)
    atexit.register(_at_exit)
    return scheduler


class ErasureRunner:
    """Finishes erasure jobs in the background of a server process (R32).

    A request commits the live erasure and returns before gunicorn's timeout; this thread then
    rewrites the backups and records the proof. It runs once when a worker starts, so a server
    restarted after a crash finishes what the crash interrupted, and again whenever `kick()` is
    called. While jobs remain (another process may hold the runner lock), it retries.
    """

    RETRY_S = 2.0

    def __init__(self, config: CloudConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        if not self.config.erasure_runner:
            return
        with self._lock:
            alive = (self._thread is not None and self._thread.is_alive()
                     and self._pid == os.getpid())
            if not alive:
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="teddy-erasure",
                                                 daemon=True)
                self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                remaining = self.run_once()
            except Exception:
                log.exception("finishing erasure jobs failed; retrying")
                remaining = 1
            if remaining:
                # Not ours to finish yet (another runner holds the lock) or it failed.
                threading.Timer(self.RETRY_S, self._wake.set).start()

    def run_once(self) -> int:
        """Finish what this process can; returns how many jobs are still unfinished."""
        from cloud.retention.erasure import finish_erasures
        from cloud.retention.jobs import pending_jobs
        from cloud.storage.db import open_db

        db = open_db(self.config.db_path, migrate_schema=False)
        try:
            finish_erasures(db, db_path=self.config.db_path, backup_dir=self.config.backup_dir,
                            now=self.clock.time(), wait=False)
            return len(pending_jobs(db))
        finally:
            db.close()


RUNNER_EXTENSION = "teddy.erasure_runner"


def erasure_runner(app: Flask) -> ErasureRunner:
    runner: ErasureRunner = app.extensions[RUNNER_EXTENSION]
    return runner


def start_erasure_runner(app: Flask) -> ErasureRunner:
    """Attach a runner that every process forked from this one starts once at birth."""
    runner = ErasureRunner(app.config["TEDDY"], app.extensions["teddy.clock"])
    app.extensions[RUNNER_EXTENSION] = runner
    ref = weakref.ref(runner)

    def _after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.kick()

    os.register_at_fork(after_in_child=_after_fork)
    return runner
