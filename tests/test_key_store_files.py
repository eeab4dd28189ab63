"""Destroying a child's key is physical and provable on both backends (issue 26, item 2).

The key store is a file on every backend; after an erasure the key's bytes are in none of
the key store's files, nor anywhere in the PostgreSQL server's data directory (heap, WAL),
and the erasure proof says what the search of the store's files found. A store that leaves
the key's bytes behind fails the proof.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import make_family
from flask import Flask
from retention_helpers import send

from cloud.keys.residue import fingerprint, scan_store_files
from cloud.keys.store import KeyStore, store_for
from cloud.retention.erasure import erase_child


def _copies_under(folder: Path, needle: bytes) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


@pytest.mark.backends("sqlite", "postgresql")
def test_an_erased_key_is_in_no_file_of_the_key_store_nor_of_the_database_server(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str,
        request: pytest.FixtureRequest) -> None:
    family = make_family(db, purposes=("core", "personalisation", "history"),
                         first_name="Zelphinia")
    send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    store = store_for(db)
    key = store.key(family.child_id)
    assert Path(store.location).is_file()
    assert scan_store_files(store.location, key).copies >= 1  # the search can find it
    if cloud_db_path.startswith("postgresql"):
        db.execute("CHECKPOINT")  # whatever a PostgreSQL table held is now in its heap files

    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=cloud_db_path)

    assert receipt.proof.clean, receipt.proof
    assert receipt.proof.key_copies_in_store == 0
    assert scan_store_files(store.location, key).copies == 0
    assert scan_store_files(store.location, digest=fingerprint(key)).copies == 0
    if cloud_db_path.startswith("postgresql"):
        server = request.getfixturevalue("postgres_server")
        db.execute("CHECKPOINT")
        assert _copies_under(server.data_dir, key) == []


class _LeakyKeyStore(KeyStore):
    """A store that 'destroys' by marking the row, the way a PostgreSQL table deletes: the
    bytes stay in the file."""

    def _connect(self) -> sqlite_utils.Database:
        conn = super()._connect()
        conn.execute("PRAGMA secure_delete=OFF")
        return conn

    def clear_residue(self, *, key: bytes | None = None, digest: bytes | None = None):  # type: ignore[no-untyped-def]
        from cloud.keys.residue import scan_store_files

        return scan_store_files(self.location, key, digest=digest)  # no checkpoint


def test_a_store_that_leaves_the_key_bytes_behind_fails_the_proof(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud_helpers import db_for, make_app

    from cloud.keys import store as store_module

    leaky = _LeakyKeyStore(str(tmp_path / "leaky.child-keys"))
    monkeypatch.setattr(store_module, "store_for", lambda _db: leaky)
    for module in ("cloud.keys.fields", "cloud.retention.jobs", "cloud.retention.erasure"):
        monkeypatch.setattr(f"{module}.store_for", lambda _db: leaky)
    app = make_app(tmp_path, purge_interval_s=0)
    db = db_for(app)
    family = make_family(db, purposes=("core", "personalisation", "history"),
                         first_name="Zelphinia")
    send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    key = leaky.key(family.child_id)
    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=app.config["TEDDY"].db_path)
    assert scan_store_files(leaky.location, key).copies >= 1
    assert not receipt.proof.clean
    assert receipt.proof.key_copies_in_store and receipt.proof.key_copies_in_store >= 1
    assert "copies of the destroyed key remain" in (receipt.proof.problem or "")


def test_the_key_proof_tries_each_value_with_at_most_two_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10: the proof used to try every value with every key (quadratic in children)."""
    from cloud_helpers import db_for, make_app

    from cloud.keys import shredding

    app = make_app(tmp_path, purge_interval_s=0)
    db = db_for(app)
    families = [make_family(db, purposes=("core", "personalisation", "history"),
                            first_name=f"Child{'abcdefghijklmnopqrst'[n]}") for n in range(20)]
    for family in families:
        send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    erase_child(db, child_id=families[0].child_id, parent_id=families[0].parent_id,
                now=time.time(), db_path=app.config["TEDDY"].db_path)
    attempts = 0
    real = shredding._opens

    def counted(*args):  # type: ignore[no-untyped-def]
        nonlocal attempts
        attempts += 1
        return real(*args)

    monkeypatch.setattr(shredding, "_opens", counted)
    proof = shredding.prove_key_erasure(db, store_for(db), families[0].child_id)
    assert proof.problem is None and proof.sealed_values_tried >= 19 * 2
    assert attempts <= 2 * proof.sealed_values_tried  # not values x 19 keys


def test_servers_starting_together_upgrade_an_old_key_store_once(tmp_path: Path) -> None:
    """Two workers opening a store made before the residue columns: the second must see the
    first one's upgrade, not add the same column again ("duplicate column name")."""
    import sqlite3
    import threading

    from cloud.keys.store import SCHEMA, TOMBSTONE_COLUMNS

    location = str(tmp_path / "teddy.child-keys")
    other_worker = sqlite3.connect(location, isolation_level=None)
    other_worker.execute("PRAGMA journal_mode=WAL")  # as every server's connection has
    other_worker.execute(SCHEMA.replace("IF NOT EXISTS ", ""))
    # The other worker is half-way through the same upgrade when this one starts.
    other_worker.execute("BEGIN IMMEDIATE")
    outcome: list[BaseException | None] = []

    def open_store() -> None:
        try:
            KeyStore(location).db()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome.append(error)

    opener = threading.Thread(target=open_store)
    opener.start()
    time.sleep(0.3)
    assert outcome == [], "the upgrade must wait for the other worker's transaction"
    for column, kind in TOMBSTONE_COLUMNS.items():
        other_worker.execute(f"ALTER TABLE child_keys ADD COLUMN {column} {kind}")
    other_worker.execute("COMMIT")
    opener.join(30)
    other_worker.close()
    assert outcome == [None]
