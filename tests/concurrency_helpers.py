"""Work for separate OS processes (multiprocessing "spawn"), each with its own connection.

Module-level functions so a spawned process can import them; results go back on a queue.
"""

from __future__ import annotations

import json
import time
import traceback
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from typing import Any

from cloud_helpers import Family, intent_body, signed_intent_headers


def append_audit_entries(db_path: str, worker: int, count: int, start: Barrier,
                         results: Queue[Any]) -> None:
    """Append `count` entries through cloud.audit.append, as every writer in the cloud does."""
    from cloud import audit
    from cloud.storage.db import open_db

    errors: list[str] = []
    db = open_db(db_path, migrate_schema=False)
    try:
        start.wait(60)
        for n in range(count):
            try:
                audit.append(db, at=time.time(), actor="system", action="test.append",
                             subject=f"worker:{worker}", details={"count": n})
            except Exception as exc:  # reported, not hidden: the test fails on any
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        db.close()
    results.put((worker, errors))


def append_without_the_writer_lock(db_path: str, worker: int, read_done: Barrier,
                                   results: Queue[Any]) -> None:
    """Negative control: read the chain's head, wait until every worker has read it, then
    link to it, with no transaction around the two: the pattern the writer lock prevents."""
    from cloud import audit
    from cloud.storage.db import open_db

    db = open_db(db_path, migrate_schema=False)
    try:
        row = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        last_seq, prev_hash = (int(row[0]), row[1]) if row else (0, audit.GENESIS)
        read_done.wait(60)
        at = time.time()
        details_json = json.dumps({"count": worker})
        entry_hash = audit._entry_hash(prev_hash, at, "system", "test.fork", "system",
                                       details_json)
        try:
            db.execute("INSERT INTO audit_log (seq, at, actor, action, subject, details_json, "
                       "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [last_seq + 1, at, "system", "test.fork", "system", details_json,
                        prev_hash, entry_hash])
            results.put((worker, "linked"))
        except Exception as exc:
            results.put((worker, type(exc).__name__))
    finally:
        db.close()


def send_intents(db_path: str, secret_key: str, family: Family, start: Barrier,
                 stop: Event, results: Queue[Any]) -> None:
    """Send signed intents through the real app until told to stop; report, per request,
    when it was sent (CLOCK_MONOTONIC, shared by all processes), its status and whether the
    reply's policy still held "history"."""
    from cloud.app import create_app

    replies: list[tuple[float, float, int, bool]] = []
    try:
        app = create_app(db_path=db_path, secret_key=secret_key, purge_interval_s=0,
                         erasure_runner=False)
        client = app.test_client()
        start.wait(60)
        while not stop.is_set():
            body = intent_body(family, "greet")
            sent = time.monotonic()
            response = client.post("/api/v1/intent", data=body,
                                   headers=signed_intent_headers(family, body))
            answered = time.monotonic()
            purposes = (response.get_json(silent=True) or {}).get("policy", {}).get(
                "purposes", [])
            replies.append((sent, answered, response.status_code, "history" in purposes))
        results.put(("replies", replies))
    except Exception:
        results.put(("error", traceback.format_exc()))


def revoke_history(db_path: str, family: Family, start: Barrier, after_s: float,
                   results: Queue[Any]) -> None:
    """Revoke "history" (and erase what it kept) while intents are being stored; report the
    moment the revocation had committed."""
    from cloud.parent_web.granting import revoke_all
    from cloud.storage.db import open_db

    db = open_db(db_path, migrate_schema=False)
    try:
        start.wait(60)
        time.sleep(after_s)
        revoke_all(db, child_id=family.child_id, parent_id=family.parent_id,
                   purposes=["history"], now=time.time())
        results.put(("revoked", time.monotonic()))
    except Exception:
        results.put(("error", traceback.format_exc()))
    finally:
        db.close()


def guess_pairing_codes(db_path: str, worker: int, key: str, client: str, codes: list[str],
                        now: float, limits: tuple[int, int], atomic: bool, rounds: Barrier,
                        results: Queue[Any], per_code: int | None = None) -> None:
    """One app server's share of a flood of pairing codes from one address: every round, all
    workers send their next code at once, through the same throttle the pairing route uses
    (`atomic=False`: its read-then-write variant; `per_code`: a limit of wrong tries per code
    other than the default). Reports each outcome."""
    from cloud.device_api.pairing_throttle import PairingThrottle
    from cloud.storage.db import open_db

    outcomes: list[str] = []
    db = open_db(db_path, migrate_schema=False)
    try:
        throttle = (PairingThrottle(*limits, key, atomic=atomic) if per_code is None
                    else PairingThrottle(*limits, key, atomic=atomic, per_code=per_code))
        for code in codes:
            rounds.wait(60)
            attempt = throttle.attempt(db, client, code, now)
            outcomes.append("refused" if attempt.retry_after_s is not None
                            else "withdrawn" if attempt.withdrawn
                            else "paired" if attempt.paired else "checked")
        results.put((worker, outcomes))
    except Exception:
        results.put((worker, traceback.format_exc()))
    finally:
        db.close()


def run_guessers(processes: list[Any], results: Queue[Any]) -> list[str]:
    """Start the `guess_pairing_codes` workers, wait for them and return every outcome; a
    worker's traceback fails the test."""
    for process in processes:
        process.start()
    reports: list[Any] = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    outcomes: list[str] = []
    for worker, report in reports:
        assert isinstance(report, list), f"worker {worker} failed:\n{report}"
        outcomes += report
    return outcomes
