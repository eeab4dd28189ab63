"""Kill -9, database crash and backup-restore cycles on both backends (issue 26, targets):
no acknowledged write is lost and no erased child comes back.

Each cycle runs a real `teddy cloud serve` while a toy sends intents (each acknowledged one is a
history row), then kills the whole server with SIGKILL mid-stream; on PostgreSQL every other
cycle also crashes the database server (`pg_ctl stop -m immediate`). Every cycle erases one
child after taking a backup that still holds it, and the last cycles restore that backup
before starting again.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cloud_helpers import Family, intent_body, make_family, signed_intent_headers

from cloud.retention.backup import create_backup
from cloud.retention.erasure import erase_child
from cloud.storage.db import open_db
from cloud.storage.throwaway_postgres import ThrowawayPostgres
from teddy.cloud_process import CloudProcess

CYCLES = 4
RESTORE_FROM_CYCLE = 2


def _post(port: int, family: Family) -> int:
    body = intent_body(family, "tell_story", {"topic": "dragons"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/api/v1/intent", body=body,
                     headers=signed_intent_headers(family, body))
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _serving(db_url: str, tmp_path: Path, cycle: int) -> CloudProcess:
    env = {"TEDDY_SECRET_KEY": "cycle-key", "TEDDY_PURGE_INTERVAL_S": "0"}
    return CloudProcess(db_url, extra_args=["--workers", "2"], env=env,
                        log_path=tmp_path / f"serve-{cycle}.log")


def _count(db_url: str, sql: str, params: list[object]) -> int:
    db = open_db(db_url, migrate_schema=False)
    try:
        return int(db.execute(sql, params).fetchone()[0])
    finally:
        db.close()


def _send_until(port: int, toy: Family, stop: threading.Event, acks: list[int]) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError, http.client.HTTPException):
            if _post(port, toy) == 200:
                acks.append(1)


def _run_cycles(db_url: str, tmp_path: Path, backup: Callable[[int], Path],
                restore: Callable[[Path], None],
                crash_database: Callable[[], None] | None) -> None:
    db = open_db(db_url)
    toy = make_family(db, purposes=("core", "history"))
    doomed = [make_family(db, purposes=("core", "history"), first_name="Zelphinia")
              for _ in range(CYCLES)]
    db.close()
    history = "SELECT count(*) FROM intent_events WHERE child_id = ?"
    must_hold = 0  # history rows the toy was told were stored (and no restore undid)
    erased: list[Family] = []
    for cycle in range(CYCLES):
        saved = backup(cycle)
        with _serving(db_url, tmp_path, cycle) as server:
            port = server.port
            for family in erased:  # an erased child's toy is never accepted again
                assert _post(port, family) == 401, f"cycle {cycle}: erased child is back"
            acks: list[int] = []
            stop = threading.Event()
            sender = threading.Thread(target=_send_until, args=(port, toy, stop, acks))
            sender.start()
            time.sleep(1.0)
            live = open_db(db_url, migrate_schema=False)
            try:
                erase_child(live, child_id=doomed[cycle].child_id,
                            parent_id=doomed[cycle].parent_id, now=time.time(), db_path=db_url)
            finally:
                live.close()
            erased.append(doomed[cycle])
            time.sleep(0.5)
            assert server.process is not None
            os.killpg(server.process.pid, signal.SIGKILL)  # mid-stream
            stop.set()
            sender.join(30)
        assert acks, f"cycle {cycle}: the toy was never answered"
        must_hold += len(acks)
        if crash_database is not None and cycle % 2 == 1:
            crash_database()
        stored = _count(db_url, history, [toy.child_id])
        assert stored >= must_hold, f"cycle {cycle}: {must_hold} acknowledged, {stored} kept"
        if cycle >= RESTORE_FROM_CYCLE:
            restore(saved)  # back to before this cycle's erasure and intents
            must_hold = _count(db_url, history, [toy.child_id])
    with _serving(db_url, tmp_path, CYCLES) as server:
        for family in erased:
            assert _post(server.port, family) == 401
    for family in erased:
        for sql in ("SELECT count(*) FROM children WHERE id = ?",
                    "SELECT count(*) FROM devices WHERE child_id = ?",
                    "SELECT count(*) FROM consents WHERE child_id = ?"):
            assert _count(db_url, sql, [family.child_id]) == 0, (family.child_id, sql)


@pytest.mark.slow("four kill -9 cycles of a gunicorn cloud on SQLite, with restores")
def test_kill_and_restore_cycles_on_sqlite(tmp_path: Path) -> None:
    db_path = str(tmp_path / "cloud.db")
    offsite = tmp_path / "offsite"
    offsite.mkdir()

    def backup(cycle: int) -> Path:
        made = create_backup(db_path, tmp_path / "taken", time.time())
        return Path(shutil.copy(made, offsite / f"cycle-{cycle}.db"))

    def restore(saved: Path) -> None:
        for suffix in ("-wal", "-shm"):
            Path(db_path + suffix).unlink(missing_ok=True)
        shutil.copyfile(saved, db_path)

    _run_cycles(db_path, tmp_path, backup, restore, None)


@pytest.mark.slow("four kill -9 cycles of a gunicorn cloud and two PostgreSQL crashes")
def test_kill_crash_and_restore_cycles_on_postgres(tmp_path: Path) -> None:
    with ThrowawayPostgres(fsync=True) as server:
        url = server.create_database("teddy")

        def backup(cycle: int) -> Path:
            dump = tmp_path / f"cycle-{cycle}.dump"
            subprocess.run([str(server.bin / "pg_dump"), "-Fc", "-f", str(dump), url],
                           check=True, capture_output=True, timeout=120)
            return dump

        def restore(saved: Path) -> None:
            subprocess.run([str(server.bin / "pg_restore"), "--clean", "--if-exists",
                            "--no-owner", "-d", url, str(saved)], check=True,
                           capture_output=True, timeout=120)

        _run_cycles(url, tmp_path, backup, restore, server.crash_and_restart)
