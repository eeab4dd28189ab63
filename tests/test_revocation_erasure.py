"""Turning a purpose off erases what was kept only for it, down to the file's bytes (R12, R29)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import make_family
from flask import Flask
from flask.testing import FlaskClient
from parent_web_helpers import add_child, consent_by_card, signup, submit

from cloud.keys.fields import open_value, seal_value
from cloud.personalisation import load_profile
from cloud.retention.revocation import plan_for, revoke_and_erase
from cloud.storage.db import open_db

CANARIES = (b"zebracanary", b"Quillonia")


def _remember(db: sqlite_utils.Database, child_id: int, now: float) -> None:
    """Stored as the cloud stores them: sealed with the child's key."""
    db.execute("UPDATE children SET first_name = ? WHERE id = ?",
               [seal_value(db, child_id, "children", "first_name", "Quillonia"), child_id])
    for key, value in (("child_name", "quillonia"), ("favorite_animal", "zebracanary")):
        db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
                   "collected_at, expires_at) VALUES (?, 'child.preference', ?, ?, "
                   "'personalisation', ?, ?)",
                   [child_id, key, seal_value(db, child_id, "profile_facts", "value", value),
                    now, now + 90 * 86400])
    for intent, slots in (("tell_story", '{"topic": "volcanoes"}'),
                          ("share_favorite", '{"kind": "animal", "value": "zebracanary"}')):
        db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
                   "received_at, expires_at) VALUES (?, 'toy-0123456789abcdef', ?, ?, ?, ?)",
                   [child_id, intent,
                    seal_value(db, child_id, "intent_events", "slots_json", slots),
                    now, now + 30 * 86400])


def _sealed_facts(db: sqlite_utils.Database) -> list[bytes]:
    return [r[0].encode() for r in db.execute("SELECT value FROM profile_facts")]


def _raw_bytes(db_path: Path) -> bytes:
    return b"".join(Path(f"{db_path}{s}").read_bytes() for s in ("", "-wal")
                    if Path(f"{db_path}{s}").exists()).lower()


@pytest.mark.backends("sqlite", "postgresql")
def test_the_plan_comes_from_the_data_map(tmp_path: Path, cloud_db_path: str) -> None:
    db = open_db(cloud_db_path)
    personal = plan_for(db, "personalisation")
    assert "profile_facts" in personal.whole_tables
    assert personal.child_fields == ("first_name",)
    assert plan_for(db, "history").whole_tables == ("intent_events",)
    assert "consents" not in personal.whole_tables + personal.row_purpose_tables


def test_turning_personalisation_off_erases_name_and_favourites_from_the_bytes(
        tmp_path: Path) -> None:
    db_path = tmp_path / "cloud.db"
    db = open_db(str(db_path))
    now = time.time()
    family = make_family(db, purposes=("core", "personalisation", "history"), now=now)
    _remember(db, family.child_id, now)
    # Sealed: never in the bytes, even before the revocation; their ciphertext is.
    assert not any(c.lower() in _raw_bytes(db_path) for c in CANARIES)
    sealed = _sealed_facts(db)
    assert sealed and all(s.lower() in _raw_bytes(db_path) for s in sealed)

    result = revoke_and_erase(db, child_id=family.child_id, parent_id=family.parent_id,
                              purposes=["personalisation"], now=now + 1)

    assert result.purposes == ["personalisation"]
    assert result.erased == {"profile_facts": 2, "children.first_name": 1,
                             "intent_events.slots_json": 1}
    assert result.checkpoint_complete
    assert "2 things Teddy remembered" in result.summary()
    assert "zebracanary" not in result.summary().lower()
    assert not any(c.lower() in _raw_bytes(db_path) for c in CANARIES + tuple(sealed))
    # History was not what was turned off: its entries stay, without personalisation's slots.
    assert sorted(open_value(db, family.child_id, "intent_events", "slots_json", r[0])
                  for r in db.execute("SELECT slots_json FROM intent_events")) == [
        '{"topic": "volcanoes"}', "{}"]
    # Nothing revoked shapes a reply, even if personalisation is given again later.
    assert load_profile(db, family.child_id, now + 2).name is None
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log")]
    assert "consent.revoke.erase" in actions


@pytest.mark.backends("sqlite", "postgresql")
def test_an_already_off_purpose_erases_nothing(tmp_path: Path, cloud_db_path: str) -> None:
    db = open_db(cloud_db_path)
    family = make_family(db, purposes=("core",))
    result = revoke_and_erase(db, child_id=family.child_id, parent_id=family.parent_id,
                              purposes=["history"], now=time.time())
    assert not result and result.erased == {}


@pytest.mark.backends("sqlite", "postgresql")
def test_a_failure_leaves_consent_and_data_as_they_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud_db_path: str) -> None:
    db = open_db(cloud_db_path)
    now = time.time()
    family = make_family(db, purposes=("core", "personalisation"), now=now)
    _remember(db, family.child_id, now)

    def broken(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise OSError("disk full")

    monkeypatch.setattr("cloud.retention.revocation.erase_kept_for", broken)
    with pytest.raises(OSError):
        revoke_and_erase(db, child_id=family.child_id, parent_id=family.parent_id,
                         purposes=["personalisation"], now=now)
    assert db.execute("SELECT COUNT(*) FROM profile_facts").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM consents WHERE purpose = 'personalisation' "
                      "AND revoked_at IS NULL").fetchone()[0] == 1


@pytest.mark.backends("sqlite", "postgresql")
def test_the_parent_is_told_what_was_erased(app: Flask, client: FlaskClient,
                                            db: sqlite_utils.Database) -> None:
    signup(client, "erased@example.org")
    child_id = add_child(client, first_name="Quillonia")
    consent_by_card(client, child_id, {"core", "personalisation"})
    _remember(db, child_id, time.time())
    response = submit(client, f"/parent/children/{child_id}/consent/personalisation/revoke",
                      {"confirmed": "1"})
    assert response.status_code == 302
    page = client.get(f"/parent/children/{child_id}/data").get_data(as_text=True)
    assert "Erased at once" in page and "things Teddy remembered" in page
    assert "zebracanary" not in page


def test_backups_are_rewritten_without_what_the_purpose_kept(tmp_path: Path) -> None:
    from cloud.retention.backup import backup_dir_for, create_backup

    db_path = tmp_path / "cloud.db"
    db = open_db(str(db_path))
    now = time.time()
    family = make_family(db, purposes=("core", "personalisation"), now=now)
    _remember(db, family.child_id, now)
    backup = create_backup(db_path, backup_dir_for(db_path), now)
    sealed = _sealed_facts(db)
    assert all(s in backup.read_bytes() for s in sealed)
    result = revoke_and_erase(db, child_id=family.child_id, parent_id=family.parent_id,
                              purposes=["personalisation"], now=now + 1)
    assert result.backups_rewritten == 1
    assert not any(s in backup.read_bytes() for s in sealed)


def test_turning_history_off_erases_every_history_entry(tmp_path: Path) -> None:
    db_path = tmp_path / "cloud.db"
    db = open_db(str(db_path))
    now = time.time()
    family = make_family(db, purposes=("core", "personalisation", "history"), now=now)
    _remember(db, family.child_id, now)
    result = revoke_and_erase(db, child_id=family.child_id, parent_id=family.parent_id,
                              purposes=["history"], now=now + 1)
    assert result.erased == {"intent_events": 2}
    assert result.summary() == "Erased at once: 2 history entries."
    assert b"volcanoes" not in _raw_bytes(db_path)
    # Personalisation is still on: what it keeps stays.
    assert db.execute("SELECT COUNT(*) FROM profile_facts").fetchone()[0] == 2
