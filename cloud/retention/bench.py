"""`teddy bench retention`: purge a million expired records and erase one busy child.

The database is built to about 100 MB with SQL alone (a recursive CTE), so building it takes
seconds; the timed parts then run through the same code the cloud runs. `--children` sets how
many other children there are, each with a key and sealed values (a name, a fact, history),
so the erasure's key proof is timed against a realistic key store: it must stay within 1 s per
erased child at 10,000 children (issue 26).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud.keys.envelope import new_key, seal
from cloud.keys.fields import seal_value
from cloud.keys.shredding import prove_key_erasure
from cloud.keys.store import store_for
from cloud.retention.erasure import erase_child
from cloud.retention.policy import table_retention
from cloud.retention.proof import scan_for_canaries
from cloud.retention.purge import purge_expired
from cloud.storage.db import open_db

EXPIRED_ROWS = 1_000_000
CHILD_ROWS = 10_000
OTHER_CHILDREN = 1000
CANARY = "Quillonbury"
DAY_S = 86400.0
# Slot values long enough to give rows a realistic size (the real ones are up to 32 chars).
SLOTS = '{"topic": "dragons"}'


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "retention", help="purge rate and the time to erase one child with proof")
    parser.add_argument("--dir", help="where to build the database (default: a temporary dir)")
    parser.add_argument("--expired-rows", type=int, default=EXPIRED_ROWS,
                        help="rows past their retention to purge")
    parser.add_argument("--child-rows", type=int, default=CHILD_ROWS,
                        help="rows held about the one child whose erasure is timed")
    parser.add_argument("--children", type=int, default=OTHER_CHILDREN,
                        help="other children, each with a key and sealed values")
    parser.set_defaults(handler=_run)


def build(db_path: Path, *, expired_rows: int, child_rows: int, now: float,
          children: int = OTHER_CHILDREN) -> int:
    """Families, a million expired intent records spread over them, and one child to erase.
    Returns the id of that child."""
    db = open_db(str(db_path))
    db.execute("PRAGMA cache_size=-262144")
    db.execute("BEGIN")
    db.execute("INSERT INTO parents (email, password_hash, created_at) "
               "VALUES ('bench@example.org', 'x', ?)", [now])
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO children (id, parent_id, first_name, age_band, country, created_at, "
        "last_active_at) SELECT i, 1, NULL, '6-8', 'US', ?, ? FROM n",
        [children + 1, now, now])
    db.execute(
        "INSERT INTO devices (id, child_id, secret, paired_at) "
        "SELECT printf('toy-%016x', id), id, hex(randomblob(32)), ? FROM children", [now])
    target = children + 1
    db.execute("UPDATE children SET first_name = ? WHERE id = ?", [CANARY, target])
    # Expired: received 40 days ago, kept 30. Spread over all the other children.
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1) "
        "INSERT INTO intent_events (child_id, device_id, intent, slots_json, received_at, "
        "expires_at) SELECT 1 + i % ?, printf('toy-%016x', 1 + i % ?), 'tell_story', ?, "
        "? - 40 * 86400.0 + i * 0.001, ? - 10 * 86400.0 + i * 0.001 FROM n",
        [expired_rows, children, children, SLOTS, now, now])
    # The child to erase: recent records that a purge must not touch, each naming the canary.
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1) "
        "INSERT INTO intent_events (child_id, device_id, intent, slots_json, received_at, "
        "expires_at) SELECT ?, printf('toy-%016x', ?), 'share_name', "
        "json_object('child_name', ?, 'n', i), ? - i, ? + 20 * 86400.0 FROM n",
        [child_rows, target, target, CANARY.lower() + "ella", now, now])
    db.execute(
        "INSERT INTO profile_facts (child_id, category, key, value, purpose, collected_at, "
        "expires_at) VALUES (?, 'child.name', 'child_name', ?, 'personalisation', ?, ?)",
        [target, CANARY, now, now + 80 * DAY_S])
    _seal_child(db, target, now)
    _seal_others(db, db_path, children, now)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return target


def _seal_child(db: sqlite_utils.Database, child_id: int, now: float) -> None:
    """The erased child's values as the cloud stores them: sealed with the child's key. (The
    other children's expired history is left as written: the purge deletes it unread.)"""
    for table, column in (("children", "first_name"), ("profile_facts", "value"),
                          ("intent_events", "slots_json")):
        owner = "id" if table == "children" else "child_id"
        rows = db.execute(f'SELECT id, "{column}" FROM "{table}" WHERE "{owner}" = ?',
                          [child_id]).fetchall()
        db.conn.executemany(f'UPDATE "{table}" SET "{column}" = ? WHERE id = ?',
                       [(seal_value(db, child_id, table, column, value, now), row_id)
                        for row_id, value in rows])


SEALED_HISTORY_PER_CHILD = 3


def _seal_others(db: sqlite_utils.Database, db_path: Path, children: int, now: float) -> None:
    """Every other child gets a key (written in one transaction, as a busy cloud's store
    would hold them) and, sealed with it, a name, a fact and a little recent history."""
    store = store_for(db)
    keys = {child: new_key() for child in range(1, children + 1)}
    conn = store.db()
    conn.execute("BEGIN")
    conn.conn.executemany("INSERT INTO child_keys (child_id, key, created_at) VALUES (?, ?, ?)",
                          [(child, key, now) for child, key in keys.items()])
    conn.execute("COMMIT")
    db.conn.executemany("UPDATE children SET first_name = ? WHERE id = ?",
                        [(seal(key, f"Child{child}", child_id=child, table="children",
                               column="first_name"), child) for child, key in keys.items()])
    db.conn.executemany(
        "INSERT INTO profile_facts (child_id, category, key, value, purpose, collected_at, "
        "expires_at) VALUES (?, 'favorite.animal', 'animal', ?, 'personalisation', ?, ?)",
        [(child, seal(key, "wombat", child_id=child, table="profile_facts", column="value"),
          now, now + 80 * DAY_S) for child, key in keys.items()])
    db.conn.executemany(
        "INSERT INTO intent_events (child_id, device_id, intent, slots_json, received_at, "
        "expires_at) VALUES (?, printf('toy-%016x', ?), 'tell_story', ?, ?, ?)",
        [(child, child, seal(key, SLOTS, child_id=child, table="intent_events",
                             column="slots_json"), now - n, now + 20 * DAY_S)
         for child, key in keys.items() for n in range(SEALED_HISTORY_PER_CHILD)])


def measure(workdir: Path, *, expired_rows: int, child_rows: int,
            children: int = OTHER_CHILDREN) -> dict[str, Any]:
    db_path = workdir / "bench.db"
    now = time.time()
    started = time.perf_counter()
    target = build(db_path, expired_rows=expired_rows, child_rows=child_rows, now=now,
                   children=children)
    build_s = time.perf_counter() - started
    db_mb = db_path.stat().st_size / 1e6

    db: sqlite_utils.Database = open_db(str(db_path))
    # The running cloud has parsed the data map long before any request; so does the bench.
    table_retention()
    # Erase first, while the database is at full size, so the scan reads all of it.
    started = time.perf_counter()
    receipt = erase_child(db, child_id=target, parent_id=1, now=now, db_path=str(db_path))
    erase_s = time.perf_counter() - started
    # The key half of the proof alone, as the erasure just ran it.
    started = time.perf_counter()
    key_proof = prove_key_erasure(db, store_for(db), target)
    key_proof_s = time.perf_counter() - started

    started = time.perf_counter()
    # Timed as the cloud runs it: delete, VACUUM if chosen, TRUNCATE checkpoint.
    report = purge_expired(db, now)
    purge_s = time.perf_counter() - started
    purged = report.rows.get("intent_events", 0)
    db.close()
    leftover = scan_for_canaries(db_path, [CANARY, "dragons"])
    return {
        "db_mb": round(db_mb, 1),
        "build_s": round(build_s, 2),
        "purged_rows": purged,
        "purge_s": round(purge_s, 3),
        "purge_rows_per_s": round(purged / purge_s),
        "purge_vacuumed": report.vacuumed,
        "purge_checkpoint_complete": report.checkpoint_complete,
        "db_mb_after_purge": round(db_path.stat().st_size / 1e6, 1),
        "erased_rows": receipt.total_rows,
        "erase_child_s": round(erase_s, 3),
        "erase_bytes_scanned": receipt.proof.bytes_scanned,
        "erase_canaries": receipt.proof.canaries_checked,
        "erase_proof_clean": receipt.proof.clean,
        "children": children + 1,
        "key_proof_s": round(key_proof_s, 3),
        "key_proof_values_tried": key_proof.sealed_values_tried,
        "key_copies_in_store": receipt.proof.key_copies_in_store,
        # An independent scan for the child's name and the purged rows' slot value.
        "canary_findings_after": len(leftover),
    }


def _run(args: argparse.Namespace) -> int:
    if args.expired_rows <= 0 or args.child_rows <= 0 or args.children <= 0:
        print("teddy bench retention: row and child counts must be positive", file=sys.stderr)
        return 2
    if args.dir:
        workdir = Path(args.dir)
        workdir.mkdir(parents=True, exist_ok=True)
        result = measure(workdir, expired_rows=args.expired_rows, child_rows=args.child_rows,
                         children=args.children)
    else:
        with tempfile.TemporaryDirectory(prefix="teddy-bench-") as tmp:
            result = measure(Path(tmp), expired_rows=args.expired_rows,
                             child_rows=args.child_rows, children=args.children)
    print(json.dumps(result))
    return 0
