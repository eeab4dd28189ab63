"""The consent page starts from what is on, asks to verify only for something new, reuses a
recent verification, asks before erasing, and keeps the parent's own label for a child."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import dump_tables, make_app, make_family
from flask import Flask
from flask.testing import FlaskClient
from parent_web_helpers import FAST_HASH, add_child, consent_by_card, signup, submit

from cloud.child_data import HeldRecord, HeldValue
from cloud.clock import Clock
from cloud.consent import active_purposes
from cloud.keys.fields import seal_value
from cloud.parent_web.consent_pages import REUSE_MINUTES, reusable_verification
from cloud.parent_web.plain_words import Fact, _merged, facts_of, record_counts
from cloud.parent_web.words import counted, iso_countries, local_time


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    return tmp_path / "clock-offset"


@pytest.fixture
def app(tmp_path: Path, clock_file: Path, cloud_db_path: str) -> Flask:
    made = make_app(tmp_path, clock_file=str(clock_file), db_path=cloud_db_path)
    made.config["PASSWORD_HASH_PARAMS"] = FAST_HASH
    return made


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def checked(page: str) -> set[str]:
    return set(re.findall(r'name="choice_(\w+)" value="yes"[^>]*\bchecked\b', page))


def test_the_page_shows_what_is_on_and_adding_one_purpose_needs_no_new_check(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    signup(client, "adds@example.org")
    child_id = add_child(client, first_name="Emma")
    page = text(client.get(f"/parent/children/{child_id}/consent"))
    assert checked(page) == set()                       # nothing chosen for the parent (R14)
    consent_by_card(client, child_id, {"core", "personalisation"})
    page = text(client.get(f"/parent/children/{child_id}/consent"))
    assert checked(page) == {"core", "personalisation"}
    assert "verified by payment card check" in page.lower()
    # One new purpose, the others left as they are, no method: the recent check counts again.
    added = submit(client, f"/parent/children/{child_id}/consent", {"choice_history": "yes"})
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/{child_id}")
    assert active_purposes(db, child_id, 1) == {"core", "personalisation", "history"}
    method = db.execute("SELECT method FROM consents WHERE purpose = 'history'").fetchone()[0]
    assert method == "payment_card"                      # R08: the record names the method


def test_an_old_verification_or_a_weak_one_for_sharing_is_not_reused(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database, clock_file: Path) -> None:
    signup(client, "old@example.org")
    child_id = add_child(client)
    consent_by_card(client, child_id, {"core"})
    clock = Clock(str(clock_file))
    for _ in range(2):                                  # keep the session alive on the way
        clock.advance(REUSE_MINUTES * 60 * 0.6)
        client.get("/parent/")
    before = dump_tables(db)
    again = submit(client, f"/parent/children/{child_id}/consent", {"choice_history": "yes"})
    assert again.status_code == 400 and 'id="method-error"' in text(again)
    assert dump_tables(db) == before
    # E-mail plus verified a moment ago still cannot switch on sharing (R09).
    parent = db.execute("SELECT id FROM parents").fetchone()[0]
    db.execute("UPDATE consents SET method = 'email_plus', granted_at = ?", [clock.time()])
    assert reusable_verification(db, parent=parent, purposes=["history"],
                                 now=clock.time()) == "email_plus"
    assert reusable_verification(db, parent=parent, purposes=["third_party"],
                                 now=clock.time()) is None


def test_turning_off_asks_first_and_the_parents_label_stays(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    signup(client, "label@example.org")
    child_id = add_child(client, first_name="Emma")
    consent_by_card(client, child_id, {"core", "personalisation"})
    saved = submit(client, f"/parent/children/{child_id}/label", {"label": "E.M."})
    assert saved.status_code == 302
    stored = db.execute("SELECT label FROM children").fetchone()[0]
    assert "E.M." not in stored                          # sealed with the child's key
    ask = text(client.get(f"/parent/children/{child_id}/consent/personalisation/revoke"))
    assert "The first name Emma is erased too" in ask and "E.M., the label you chose" in ask
    assert "personalisation" in active_purposes(db, child_id, 1)
    submit(client, f"/parent/children/{child_id}/consent/personalisation/revoke",
           {"confirmed": "1"})
    page = text(client.get(f"/parent/children/{child_id}"))
    assert "<h1>E.M.</h1>" in page and "Child " + str(child_id) not in page
    assert "Emma" not in page


@pytest.mark.parametrize("label", ["<b>x</b>", "x" * 21, "   -", "a\nb"])
def test_a_bad_label_is_refused_and_changes_nothing(
        client: FlaskClient, db: sqlite_utils.Database, label: str) -> None:
    signup(client, "badlabel@example.org")
    child_id = add_child(client)
    before = dump_tables(db)
    refused = submit(client, f"/parent/children/{child_id}/label", {"label": label})
    assert refused.status_code == 400 and 'id="label-error"' in text(refused)
    new = submit(client, "/parent/children/new",
                 {"label": label, "age_band": "6-8", "country": "US"})
    assert new.status_code == 400 and "nickname or initials" in text(new)
    assert dump_tables(db) == before


def test_words_for_parents() -> None:
    assert counted(1, "paired toy") == "1 paired toy"
    assert counted(2, "paired toy") == "2 paired toys"
    # Germany's own time in winter is UTC+1; the US spans zones, so UTC is said.
    assert local_time(1_700_000_000, "DE") == "14 Nov 2023, 23:13"
    assert local_time(1_700_000_000, "US") == "14 Nov 2023, 22:13 UTC"
    assert len(iso_countries()) > 240 and iso_countries()["JP"] == "Japan"


def test_the_same_thing_said_twice_is_one_line() -> None:
    def fact(value: str, since: float) -> Fact:
        return Fact("Name", value, "child.name", "profile_facts", str(since), since, None)

    merged = _merged([fact("Emma", 1.0), fact("emma", 2.0), fact("Ada", 3.0)])
    assert [f.value for f in merged] == ["emma", "Ada"]      # the newest spelling stays
    assert record_counts([]) == []


def test_the_signed_in_mailbox_holds_no_account_mail(client: FlaskClient) -> None:
    signup(client, "mailbox@example.org")
    submit(client, "/parent/forgot", {"email": "mailbox@example.org"})
    page = text(client.get("/parent/outbox"))
    assert "/parent/reset/" not in page and "/parent/signup/confirm/" not in page
    assert "/parent/forgot" not in page.split("<main", 1)[1]


def test_a_long_history_is_paged_and_bad_page_numbers_are_refused(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    signup(client, "long@example.org")
    child_id = add_child(client)
    consent_by_card(client, child_id, {"core", "history"})
    toy = make_family(db, purposes=())
    db.execute("UPDATE devices SET child_id = ? WHERE id = ?", [child_id, toy.device_id])
    now = time.time()
    for n in range(120):
        db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
                   "received_at, expires_at) VALUES (?, ?, 'tell_story', ?, ?, ?)",
                   [child_id, toy.device_id,
                    seal_value(db, child_id, "intent_events", "slots_json",
                               f'{{"topic": "topic{n:03d}"}}', now), now + n, now + 86400])
    first = text(client.get(f"/parent/children/{child_id}/data"))
    assert "Page 1 of 3" in first and "topic119" in first and "topic069" not in first
    assert "120</strong> requests in the history" in first      # counts cover every page
    third = text(client.get(f"/parent/children/{child_id}/data?page=3"))
    assert "topic000" in third and "topic119" not in third.split("timeline-h")[0]
    assert client.get(f"/parent/children/{child_id}/data?page=x").status_code == 400
    beyond = client.get(f"/parent/children/{child_id}/data?page=99")
    assert beyond.status_code == 302 and beyond.headers["Location"].endswith("page=3")


def test_one_request_is_one_line() -> None:
    record = HeldRecord("intent_events", "7", 1.0, None, (
        HeldValue("intent", "share_favorite", "request.content", "history", "consent", False,
                  False),
        HeldValue("slots_json", '{"kind": "animal", "value": "lion"}', "child.preference",
                  "history", "consent", True, False)))
    assert [(f.label, f.value) for _, f in facts_of(record)] == [("Favourite animal", "lion")]
