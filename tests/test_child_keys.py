"""Per-child keys: the envelope, the key store, its location, the upgrade of old plaintext, and
erasure that destroys the key first and proves nothing left can be opened."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import make_family
from flask import Flask
from retention_helpers import chatty_family, cloud_cli, send

from cloud.config import CloudConfig
from cloud.keys import envelope
from cloud.keys.envelope import EnvelopeError, open_sealed, seal
from cloud.keys.fields import open_value, seal_value
from cloud.keys.location import (
    KeyStoreConfigError,
    default_key_store,
    key_store_location,
    state_dir,
)
from cloud.keys.shredding import prove_key_erasure
from cloud.keys.store import KeyDestroyed, KeyStore, NoKey, store_for
from cloud.retention import jobs
from cloud.retention.backup import create_backup
from cloud.retention.erasure import erase_child, finish_erasures, request_erasure
from cloud.storage.db import open_db

PLACE = {"child_id": 7, "table": "children", "column": "first_name"}


# -- the envelope --------------------------------------------------------------------------------

def test_a_sealed_value_opens_only_for_its_child_table_and_column() -> None:
    key = envelope.new_key()
    sealed = seal(key, "Zelphinia", **PLACE)
    assert sealed.startswith("tk1:") and "Zelphinia" not in sealed
    assert open_sealed(key, sealed, **PLACE) == "Zelphinia"
    assert seal(key, "Zelphinia", **PLACE) != sealed  # a fresh nonce every time
    for moved in ({**PLACE, "child_id": 8}, {**PLACE, "table": "profile_facts"},
                  {**PLACE, "column": "country"}):
        with pytest.raises(EnvelopeError):
            open_sealed(key, sealed, **moved)  # type: ignore[arg-type]
    with pytest.raises(EnvelopeError):
        open_sealed(envelope.new_key(), sealed, **PLACE)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(EnvelopeError):
        open_sealed(key, flipped, **PLACE)
    for bad in ("Zelphinia", "tk1:", "tk1:!!!!", "tk1:" + "A" * 8):
        with pytest.raises(EnvelopeError):
            open_sealed(key, bad, **PLACE)


# -- the key store -------------------------------------------------------------------------------

def test_the_key_store_is_its_own_private_file_and_keeps_a_tombstone(tmp_path: Path) -> None:
    db = open_db(str(tmp_path / "cloud.db"))
    store = store_for(db)
    assert store.location == str(tmp_path / "cloud.db.child-keys")
    key = store.key_or_create(1, time.time())
    assert len(key) == 32 and store.key_or_create(1, time.time()) == key
    assert stat.S_IMODE(os.stat(store.location).st_mode) == 0o600
    assert "child_keys" not in db.table_names()  # never in the data database
    with pytest.raises(NoKey):
        store.key(2)

    def store_bytes() -> bytes:
        return b"".join(Path(store.location + s).read_bytes() for s in ("", "-wal")
                        if Path(store.location + s).exists())

    assert key in store_bytes()
    assert store.destroy(1, time.time()) is True
    assert store.destroy(1, time.time()) is False  # idempotent
    assert key not in store_bytes(), "a destroyed key must leave no copy in the store's files"
    assert store.is_destroyed(1) and not store.has_key(1)
    with pytest.raises(KeyDestroyed):
        store.key_or_create(1, time.time())  # a racing request cannot revive the child


def test_where_the_key_store_lives_and_what_is_refused(tmp_path: Path) -> None:
    assert default_key_store("/srv/teddy.db") == "/srv/teddy.db.child-keys"
    assert default_key_store("sqlite:////srv/teddy.db") == "/srv/teddy.db.child-keys"
    # PostgreSQL data: a file in the state directory, one per server and database, so every
    # app server on the host finds the same one; never a PostgreSQL database.
    pg_store = Path(default_key_store("postgresql://teddy@db.internal/teddy?sslmode=require"))
    assert pg_store.name == "db.internal-5432-teddy.child-keys"
    assert pg_store.parent == state_dir() / "child-keys"
    socket_store = default_key_store("postgresql:///teddy?host=/run/postgresql&port=5433")
    assert Path(socket_store).name == "run_postgresql-5433-teddy.child-keys"
    with pytest.raises(KeyStoreConfigError, match="names no database"):
        default_key_store("postgresql://teddy@db.internal")
    with pytest.raises(KeyStoreConfigError, match="separate database"):
        key_store_location("/srv/teddy.db", "/srv/../srv/teddy.db")
    with pytest.raises(KeyStoreConfigError, match="must be a file"):
        key_store_location("postgresql://a@h/teddy", "postgresql://a@h/teddy_keys")
    db_path = str(tmp_path / "cloud.db")
    with pytest.raises(ValueError, match="separate database"):
        CloudConfig.from_sources(db_path=db_path, key_store=db_path)
    assert CloudConfig.from_sources(db_path=db_path, key_store=str(tmp_path / "k")).key_store


def test_a_configured_key_store_is_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "vault" / "keys.db"
    elsewhere.parent.mkdir()
    app, db, family = chatty_family(tmp_path, key_store=str(elsewhere))
    assert store_for(db).location == str(elsewhere)
    assert store_for(db).has_key(family.child_id)
    assert not Path(f"{tmp_path / 'cloud.db'}.child-keys").exists()


def test_backups_never_copy_the_key_store(tmp_path: Path) -> None:
    app, db, family = chatty_family(tmp_path)
    key = store_for(db).key(family.child_id)
    backup = create_backup(app.config["TEDDY"].db_path, tmp_path / "backups", time.time())
    everything = b"".join(p.read_bytes() for p in (tmp_path / "backups").rglob("*")
                          if p.is_file())
    assert backup.exists() and key not in everything
    assert not [p for p in (tmp_path / "backups").rglob("*child-keys*")]


# -- old plaintext is sealed on upgrade ------------------------------------------------------------

def test_schema_step_9_seals_what_an_older_cloud_stored_in_plaintext(tmp_path: Path) -> None:
    db_path = str(tmp_path / "cloud.db")
    db = open_db(db_path)
    family = make_family(db, purposes=("core", "personalisation", "history"))
    now = time.time()
    # As a cloud before per-child keys wrote them, and at schema version 7.
    db.execute("UPDATE children SET first_name = 'Oldname' WHERE id = ?", [family.child_id])
    db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
               "collected_at, expires_at) VALUES (?, 'child.preference', 'favorite_animal', "
               "'okapi', 'personalisation', ?, ?)", [family.child_id, now, now + 86400])
    db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
               "received_at, expires_at) VALUES (?, ?, 'tell_story', '{\"topic\": \"moons\"}', "
               "?, ?)", [family.child_id, family.device_id, now, now + 86400])
    db.execute("DELETE FROM schema_migrations WHERE version >= 9")
    db.close()

    db = open_db(db_path)
    name, = db.execute("SELECT first_name FROM children").fetchone()
    fact, = db.execute("SELECT value FROM profile_facts").fetchone()
    slots, = db.execute("SELECT slots_json FROM intent_events").fetchone()
    assert all(v.startswith("tk1:") for v in (name, fact, slots))
    child = family.child_id
    assert open_value(db, child, "children", "first_name", name) == "Oldname"
    assert open_value(db, child, "profile_facts", "value", fact) == "okapi"
    assert open_value(db, child, "intent_events", "slots_json", slots) == '{"topic": "moons"}'


def test_reading_a_plaintext_value_in_a_sealed_column_is_an_error(tmp_path: Path) -> None:
    db = open_db(str(tmp_path / "cloud.db"))
    family = make_family(db, first_name="Ada")
    with pytest.raises(EnvelopeError):
        open_value(db, family.child_id, "children", "first_name", "Ada")
    with pytest.raises(ValueError, match="not a sealed column"):
        seal_value(db, family.child_id, "children", "country", "US")


# -- erasure: the key first, then the rows ---------------------------------------------------------

def _erase(db: sqlite_utils.Database, app: object, family: object) -> object:
    return erase_child(db, child_id=family.child_id, parent_id=family.parent_id,  # type: ignore[attr-defined]
                       now=time.time(), db_path=app.config["TEDDY"].db_path)  # type: ignore[attr-defined]


def test_erasure_destroys_the_key_and_its_proof_says_so(tmp_path: Path) -> None:
    app, db, family = chatty_family(tmp_path)
    other = make_family(db, first_name="Bartholomew")
    receipt = _erase(db, app, family)
    proof = receipt.proof  # type: ignore[attr-defined]
    assert proof.clean and proof.key_destroyed is True
    assert proof.sealed_values_tried >= 1 and proof.keys_tried >= 1
    assert proof.sealed_values_readable == 0
    assert store_for(db).is_destroyed(family.child_id)
    assert store_for(db).has_key(other.child_id)  # nobody else's key goes


def test_a_crash_between_key_and_rows_ends_erased_on_retry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, db, family = chatty_family(tmp_path)
    db_path = app.config["TEDDY"].db_path

    def crash(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise OSError("power cut")

    monkeypatch.setattr(jobs, "delete_child_rows", crash)
    with pytest.raises(OSError):
        request_erasure(db, child_id=family.child_id, parent_id=family.parent_id,
                        now=time.time(), db_path=db_path)
    # The key is already gone; the rows are still there, unreadable, and the job is pending.
    assert store_for(db).is_destroyed(family.child_id)
    assert db.execute("SELECT count(*) FROM children").fetchone()[0] == 1
    assert [j.step for j in jobs.pending_jobs(db)] == [jobs.STEP_KEY]
    monkeypatch.undo()
    finished = finish_erasures(db, db_path=db_path, now=time.time())
    assert [j.done for j in finished] == [True]
    assert finished[0].receipt and finished[0].receipt["proof"]["clean"]
    assert finished[0].receipt["proof"]["key_destroyed"] is True
    assert db.execute("SELECT count(*) FROM children").fetchone()[0] == 0


def test_a_kept_key_makes_the_proof_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, db, family = chatty_family(tmp_path)
    monkeypatch.setattr(KeyStore, "destroy", lambda self, child_id, now: True)
    receipt = _erase(db, app, family)
    proof = receipt.proof  # type: ignore[attr-defined]
    assert proof.key_destroyed is False and not proof.clean
    assert "key is still in the key store" in (proof.problem or "")


def test_every_key_is_tried_on_every_sealed_value_left(tmp_path: Path) -> None:
    """A copy of the erased child's sealed name left in another row, and the child's key kept
    under another id: the proof opens the copy and says so."""
    app, db, family = chatty_family(tmp_path)
    other = make_family(db, first_name="Bartholomew")
    store = store_for(db)
    key = store.key(family.child_id)
    name, = db.execute("SELECT first_name FROM children WHERE id = ?",
                       [family.child_id]).fetchone()
    _erase(db, app, family)
    assert prove_key_erasure(db, store, family.child_id).problem is None
    db.execute("UPDATE children SET first_name = ? WHERE id = ?", [name, other.child_id])
    assert prove_key_erasure(db, store, family.child_id).problem is None  # nothing opens it
    store.db().execute("INSERT INTO child_keys (child_id, key, created_at) VALUES (?, ?, ?)",
                       [999_999, key, time.time()])
    found = prove_key_erasure(db, store, family.child_id)
    assert found.sealed_values_readable == 1 and "still open" in (found.problem or "")


# -- the same on both backends ---------------------------------------------------------------------

BOTH = pytest.mark.backends("sqlite", "postgresql")


@BOTH
def test_values_are_sealed_at_rest_and_erasure_destroys_the_key(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str) -> None:
    family = make_family(db, purposes=("core", "personalisation", "history"),
                         first_name="Zelphinia")
    other = make_family(db, first_name="Bartholomew")
    send(app, family, "share_favorite", {"kind": "animal", "value": "quokkadragon"})
    send(app, family, "tell_story", {"topic": "dragons"})
    store = store_for(db)
    assert store.location.endswith(".child-keys") and Path(store.location).is_file()
    assert "child_keys" not in db.table_names()
    stored = [r[0] for r in db.execute("SELECT first_name FROM children ORDER BY id")]
    stored += [r[0] for r in db.execute("SELECT value FROM profile_facts")]
    stored += [r[0] for r in db.execute("SELECT slots_json FROM intent_events")]
    assert len(stored) == 6 and all(v.startswith("tk1:") for v in stored)
    assert not any(word in " ".join(stored) for word in ("Zelphinia", "quokka", "dragons"))

    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=cloud_db_path)
    assert receipt.proof.clean, receipt.proof
    assert receipt.proof.key_destroyed is True and receipt.proof.sealed_values_readable == 0
    assert store.is_destroyed(family.child_id) and store.has_key(other.child_id)
    with pytest.raises(KeyDestroyed):
        store.key_or_create(family.child_id, time.time())
    assert open_value(db, other.child_id, "children", "first_name", stored[1]) == "Bartholomew"


@BOTH
def test_a_kept_key_fails_the_proof_on_either_backend(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    family = make_family(db, purposes=("core", "personalisation"), first_name="Zelphinia")
    monkeypatch.setattr(KeyStore, "destroy", lambda self, child_id, now: True)
    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=cloud_db_path)
    assert receipt.proof.key_destroyed is False and not receipt.proof.clean


@BOTH
def test_step_9_seals_old_plaintext_on_either_backend(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str) -> None:
    family = make_family(db, purposes=("core", "personalisation"))
    db.execute("UPDATE children SET first_name = 'Oldname' WHERE id = ?", [family.child_id])
    db.execute("DELETE FROM schema_migrations WHERE version >= 9")
    open_db(cloud_db_path).close()
    name, = db.execute("SELECT first_name FROM children").fetchone()
    assert name.startswith("tk1:")
    assert open_value(db, family.child_id, "children", "first_name", name) == "Oldname"


def test_the_purge_destroys_keys_in_the_configured_store(tmp_path: Path) -> None:
    vault = tmp_path / "vault.keys"
    app, db, family = chatty_family(tmp_path, key_store=str(vault))
    clock = tmp_path / "clock-offset"
    clock.write_text(str(400 * 86400))
    db_path = app.config["TEDDY"].db_path
    assert cloud_cli(["purge", "--db", db_path, "--clock-file", str(clock),
                      "--key-store", str(vault)]) == 0
    assert db.execute("SELECT count(*) FROM children").fetchone()[0] == 0
    assert KeyStore(str(vault)).is_destroyed(family.child_id)
    assert not Path(f"{db_path}.child-keys").exists()


def test_a_purge_pointed_at_the_wrong_key_store_erases_nothing(tmp_path: Path) -> None:
    """Without the server's --key-store the purge would look in a store that never held the
    child's key: it must not delete the rows and call the child erased while the key lives."""
    vault = tmp_path / "vault.keys"
    app, db, family = chatty_family(tmp_path, key_store=str(vault))
    clock = tmp_path / "clock-offset"
    clock.write_text(str(400 * 86400))
    db_path = app.config["TEDDY"].db_path
    assert cloud_cli(["purge", "--db", db_path, "--clock-file", str(clock),
                      "--key-store", str(tmp_path / "wrong.keys")]) != 0
    assert db.execute("SELECT count(*) FROM children").fetchone()[0] == 1
    assert KeyStore(str(vault)).has_key(family.child_id)
