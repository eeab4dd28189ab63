"""A separate process for tests/test_fleet_state.py: takes a lease as another app server would.

    python tests/fleet_lease_worker.py turns DB LOG ROUNDS [--no-lease]
        take the purge lease ROUNDS times (waiting for it), each time writing "start" and
        "end" lines with the wall time to LOG around a short piece of work; --no-lease does
        the same without the lease (the negative control: turns must then overlap)
    python tests/fleet_lease_worker.py hold DB TTL
        take the purge lease with a TTL, print "held", and keep renewing it until killed
    python tests/fleet_lease_worker.py key DB
        print the database's shared session key
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

WORK_S = 0.15


def _turns(db_path: str, log_path: Path, rounds: int, use_lease: bool) -> None:
    from cloud.fleet.lease import PURGE, holding

    for _ in range(rounds):
        turn = (holding(db_path, PURGE, wait=True, poll_s=0.02) if use_lease
                else contextlib.nullcontext(True))
        with turn as mine:
            assert mine
            with log_path.open("a") as log:
                log.write(f"start {time.time():.6f}\n")
            time.sleep(WORK_S)
            with log_path.open("a") as log:
                log.write(f"end {time.time():.6f}\n")


def _hold(db_path: str, ttl_s: float) -> None:
    from cloud.fleet.lease import PURGE, holding

    with holding(db_path, PURGE, wait=False, ttl_s=ttl_s) as mine:
        print("held" if mine else "refused", flush=True)
        while mine:
            time.sleep(1)


def _key(db_path: str) -> None:
    from cloud.fleet.session_key import shared_session_key
    from cloud.storage.db import open_db

    db = open_db(db_path)
    try:
        print(shared_session_key(db, db_path), flush=True)
    finally:
        db.close()


def main(argv: list[str]) -> None:
    command, db_path, *rest = argv
    if command == "turns":
        _turns(db_path, Path(rest[0]), int(rest[1]), "--no-lease" not in rest)
    elif command == "hold":
        _hold(db_path, float(rest[0]))
    elif command == "key":
        _key(db_path)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
