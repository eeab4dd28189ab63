"""Wrong pairing codes from one address, sent at once through several app servers, are checked
at most `pairing_attempts_per_15_min` times per window (issue 26, item 5), on both backends.

Each worker is an OS process with its own connection, as a gunicorn worker is; every round all
of them send their next code at the same moment. The allowance is taken by one conditional
upsert inside the write transaction (cloud.device_api.pairing_throttle). Negative control: the
read-then-write variant (`atomic=False`) in the same harness lets more codes be checked than
the allowance, since several workers read the count before any of them adds to it.
"""

from __future__ import annotations

import math
import multiprocessing
import time

import pytest
from cloud_helpers import add_child, add_parent
from concurrency_helpers import guess_pairing_codes, run_guessers

from cloud import pairing
from cloud.device_api.pairing_throttle import WINDOW_S, PairingThrottle
from cloud.storage.db import open_db

SPAWN = multiprocessing.get_context("forkserver")
SPAWN.set_forkserver_preload(["cloud.app", "concurrency_helpers"])
WORKERS = 6
ROUNDS = 4
PER_ADDRESS = 5
OVERALL = 1000
GUESSER = "203.0.113.7"
FAMILY = "198.51.100.20"
KEY = "race-test-key"


def _flood(db_path: str, atomic: bool) -> tuple[list[str], int, str, float]:
    """Run the flood; returns every outcome, the guesser's stored count, the family's valid
    code (issued before the flood) and the moment all of it happens at: the middle of one
    window, so the whole flood counts in that window."""
    now = math.floor(time.time() / WINDOW_S) * WINDOW_S + WINDOW_S / 2
    db = open_db(db_path)
    try:
        parent_id = add_parent(db, f"race-{time.time()}@example.org", now)
        valid = pairing.issue_code(db, add_child(db, parent_id, now), now)
    finally:
        db.close()
    # "0" is never in a code: these name no live code, so only the address allowance applies.
    wrong = [f"0ZZ{w}-{r}ZZZ" for w in range(WORKERS) for r in range(ROUNDS)]
    rounds, results = SPAWN.Barrier(WORKERS), SPAWN.Queue()
    processes = [SPAWN.Process(target=guess_pairing_codes, args=(
        db_path, w, KEY, GUESSER, wrong[w * ROUNDS:(w + 1) * ROUNDS], now,
        (PER_ADDRESS, OVERALL), atomic, rounds, results)) for w in range(WORKERS)]
    outcomes = run_guessers(processes, results)
    db = open_db(db_path, migrate_schema=False)
    try:
        throttle = PairingThrottle(PER_ADDRESS, OVERALL, KEY)
        stored = db.execute("SELECT failures FROM pairing_failures WHERE scope = ?",
                            [throttle._address_scope(GUESSER)]).fetchone()
    finally:
        db.close()
    return outcomes, int(stored[0]) if stored else 0, valid, now


@pytest.mark.slow("six processes race one database")
@pytest.mark.backends("sqlite", "postgresql")
def test_simultaneous_wrong_codes_are_checked_no_more_than_the_allowance(
        cloud_db_path: str) -> None:
    outcomes, stored, valid, now = _flood(cloud_db_path, atomic=True)
    assert len(outcomes) == WORKERS * ROUNDS
    assert outcomes.count("checked") == PER_ADDRESS  # never more, and all it allows
    assert outcomes.count("refused") == WORKERS * ROUNDS - PER_ADDRESS
    assert stored == PER_ADDRESS
    # The family's valid code, from its own address, still pairs.
    db = open_db(cloud_db_path, migrate_schema=False)
    try:
        attempt = PairingThrottle(PER_ADDRESS, OVERALL, KEY).attempt(db, FAMILY, valid, now)
        assert attempt.paired is not None and attempt.retry_after_s is None
    finally:
        db.close()


@pytest.mark.slow("six processes race one database")
@pytest.mark.backends("sqlite", "postgresql")
def test_negative_control_read_then_write_counting_checks_more_than_the_allowance(
        cloud_db_path: str) -> None:
    outcomes, stored, _valid, _now = _flood(cloud_db_path, atomic=False)
    assert outcomes.count("checked") > PER_ADDRESS, outcomes
    assert stored > PER_ADDRESS
