"""A receipt for one deleted item (issue 27.5): the kind of data, when, the proof; never the
child's name, the value or the child's id, and only for the parent who deleted it."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from cloud_helpers import db_for, pair_toy
from flask import Flask
from flask.testing import FlaskClient
from parent_web_helpers import (
    add_child,
    consent_by_card,
    fast_app,
    signup,
    submit,
    visible_text,
)

from cloud.keys.fields import seal_value
from cloud.retention.erasure import erase_item
from cloud.retention.item_receipt import PROOF_FILE, PROOF_PENDING, find_item_receipt
from cloud.retention.proof import scan_for_canaries

NAME, FAVOURITE = "Zinnia", "okapi"



def _family_with_a_favourite(app: Flask, client: FlaskClient,
                             email: str = "receipt@example.org") -> tuple[int, int, str]:
    """A signed-in parent's child with a remembered favourite: (child, fact row, sealed)."""
    signup(client, email)
    child_id = add_child(client, NAME)
    consent_by_card(client, child_id, {"core", "personalisation"})
    db, now = db_for(app), time.time()
    sealed = seal_value(db, child_id, "profile_facts", "value", FAVOURITE)
    assert sealed
    db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
               "collected_at, expires_at) VALUES (?, 'child.preference', 'favorite_animal', ?, "
               "'personalisation', ?, ?)", [child_id, sealed, now, now + 86400])
    db.conn.commit()
    fact_id = db.execute("SELECT id FROM profile_facts WHERE child_id = ?",
                         [child_id]).fetchone()[0]
    return child_id, int(fact_id), sealed


def leaks(page: str, secrets: list[str]) -> list[str]:
    """Which of these secrets a page shows (its visible text or its markup)."""
    shown = page.lower() + "\n" + visible_text(page).lower()
    return [s for s in secrets if s.lower() in shown]


def test_deleting_one_item_gives_a_receipt_without_name_or_value(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id, fact_id, _ = _family_with_a_favourite(app, client)
    answer = submit(client, f"/parent/children/{child_id}/data/profile_facts/{fact_id}/delete")
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert re.fullmatch(rf"/parent/receipts/erasure-item-[0-9a-f]{{16}}\?child={child_id}",
                        location), location
    page = client.get(location).get_data(as_text=True)
    facts = visible_text(page[page.index('id="receipt"'):page.index("</dl>")])
    assert "Kind of data Favourite animal, colour or food" in facts
    assert "Records removed What Teddy remembers (personalisation): 1" in facts
    assert "no longer in the database" in facts and "overwritten with zeros" in facts
    receipt_id = location.split("/")[3].split("?")[0]
    entry = db_for(app).execute("SELECT hash, details_json FROM audit_log WHERE action = "
                                "'item.erase'").fetchone()
    assert receipt_id in entry[1] and entry[0][:16] in facts
    assert f'href="/parent/children/{child_id}/data"' in page
    printable = client.get(f"/parent/receipts/{receipt_id}/printable")
    assert printable.status_code == 200 and "Deletion proven" in printable.get_data(as_text=True)
    download = client.get(f"/parent/receipts/{receipt_id}/printable?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")
    # The site's own header names the signed-in parent; the receipt itself never does.
    assert leaks(printable.get_data(as_text=True), ["receipt@example.org"]) == []
    for shown in (page, printable.get_data(as_text=True)):
        assert leaks(shown, [NAME, FAVOURITE]) == []
        assert f"child:{child_id}" not in shown and f"/children/{child_id}/" not in \
            shown.replace(f'href="/parent/children/{child_id}/data"', "")
    # The item is gone from the dashboard; the receipt stays available to its parent.
    board = client.get(f"/parent/children/{child_id}/data").get_data(as_text=True)
    assert FAVOURITE not in board and client.get(location).status_code == 200


def test_negative_control_the_leak_check_finds_a_name_and_a_value(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id, _, _ = _family_with_a_favourite(app, client)
    board = client.get(f"/parent/children/{child_id}/data").get_data(as_text=True)
    assert leaks(board, [NAME, FAVOURITE]) == [NAME, FAVOURITE]


def test_another_parent_cannot_open_the_receipt(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id, fact_id, _ = _family_with_a_favourite(app, client)
    location = submit(client, f"/parent/children/{child_id}/data/profile_facts/{fact_id}"
                      "/delete").headers["Location"].split("?")[0]
    other = app.test_client()
    signup(other, "other@example.org")
    for path in (location, location + "/printable", "/parent/receipts/erasure-item-0123",
                 "/parent/receipts/erasure-item-%25"):
        answer = other.get(path)
        assert answer.status_code == 404 and "Not found" in answer.get_data(as_text=True)
    # Deleting what is already gone says so, with no receipt.
    again = submit(client, f"/parent/children/{child_id}/data/profile_facts/{fact_id}/delete")
    assert again.headers["Location"] == f"/parent/children/{child_id}/data"


def test_the_proof_holds_the_bytes_are_gone_and_a_blocked_checkpoint_is_not_proven(
        tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id, fact_id, sealed = _family_with_a_favourite(app, client)
    db_path = app.config["TEDDY"].db_path
    db = db_for(app)
    parent = db.execute("SELECT parent_id FROM children WHERE id = ?", [child_id]).fetchone()[0]
    assert scan_for_canaries(db_path, [sealed]) != []  # held before
    receipt = erase_item(db, child_id=child_id, parent_id=parent, table="profile_facts",
                         row_id=fact_id, now=time.time())
    assert receipt and receipt.proof == PROOF_FILE and receipt.proven
    assert scan_for_canaries(db_path, [sealed]) == []  # the claim on the receipt is true
    assert receipt.category == "child.preference" and receipt.rows_removed == {
        "profile_facts": 1}
    assert find_item_receipt(db, receipt.receipt_id, parent) == receipt
    assert find_item_receipt(db, receipt.receipt_id, parent + 1) is None

    # Negative control: a reader pins the WAL, so the zeroed page cannot reach the file.
    db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
               "received_at, expires_at) VALUES (?, 'toy-x', 'greet', ?, ?, ?)",
               [child_id, seal_value(db, child_id, "intent_events", "slots_json", "{}"),
                time.time(), time.time() + 86400])
    db.conn.commit()
    event_id = db.execute("SELECT max(id) FROM intent_events").fetchone()[0]
    reader = sqlite3.connect(db_path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM intent_events").fetchone()
        pinned = erase_item(db, child_id=child_id, parent_id=parent, table="intent_events",
                            row_id=int(event_id), now=time.time())
    finally:
        reader.close()
    assert pinned and pinned.proof == PROOF_PENDING and not pinned.proven
    assert find_item_receipt(db, pinned.receipt_id, parent) == pinned
    page = client.get(f"/parent/receipts/{pinned.receipt_id}/printable").get_data(as_text=True)
    assert "Proof incomplete" in page and "emptied by the next clean-up" in page


@pytest.mark.parametrize("table", ["devices"])
def test_a_paired_toy_receipt_names_no_device(tmp_path: Path, table: str) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id, _, _ = _family_with_a_favourite(app, client)
    device_id, _secret = pair_toy(db_for(app), child_id, time.time())
    location = submit(client, f"/parent/children/{child_id}/data/{table}/{device_id}/delete"
                      ).headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert device_id not in page and "Toy identifier and its signing key" in visible_text(page)
