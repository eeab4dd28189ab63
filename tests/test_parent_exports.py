"""The readable exports (issue 27.4): a printable page and a CSV beside the JSON, all three
built from one export document, so they hold the same records."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import make_app
from export_helpers import csv_values, differences, html_values, json_values
from flask import Flask
from flask.testing import FlaskClient
from parent_web_helpers import FAST_HASH, add_child, consent_by_card, signup, submit

from cloud.child_data import export_document
from cloud.keys.fields import seal_value
from cloud.parent_web.dashboard import export_page
from cloud.parent_web.export_formats import safe_cell, to_csv, unsafe_cell
from cloud.parent_web.family import children_of
from cloud.parent_web.words import local_time, zone_named, zoned_time

# Values a hostile or merely unusual answer could leave: a spreadsheet formula, markup, a
# quote and comma and line break, and text in another script.
AWKWARD = ("=HYPERLINK(\"http://evil.example\")", "<script>alert(1)</script>",
           'a "quoted", line\nbreak', "곰돌이")


@pytest.fixture
def app(tmp_path: Path, cloud_db_path: str) -> Flask:
    app = make_app(tmp_path, db_path=cloud_db_path)
    app.config["PASSWORD_HASH_PARAMS"] = FAST_HASH
    return app


def _child_with_awkward_data(client: FlaskClient, db: sqlite_utils.Database) -> int:
    signup(client, "export@example.org")
    child_id = add_child(client, first_name="Mia", country="DE")
    consent_by_card(client, child_id, {"core", "personalisation", "history"})
    now = time.time()
    for n, value in enumerate(AWKWARD):
        db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
                   "collected_at, expires_at) VALUES (?, 'child.preference', ?, ?, "
                   "'personalisation', ?, ?)",
                   [child_id, f"thing_{n}", seal_value(db, child_id, "profile_facts", "value",
                                                       value), now, now + 86400])
    db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
               "received_at, expires_at) VALUES (?, 'toy-0123456789abcdef', 'tell_story', ?, "
               "?, ?)", [child_id, seal_value(db, child_id, "intent_events", "slots_json",
                                              '{"topic": "volcanoes"}'), now, now + 86400])
    return child_id


def _three_formats(app: Flask, db: sqlite_utils.Database, child_id: int
                   ) -> tuple[Counter, Counter, Counter]:  # type: ignore[type-arg]
    """One document written as JSON, CSV and the page, read back."""
    now = time.time()
    document = export_document(db, child_id, now=now, notice_version=1)
    kid = next(c for c in children_of(db, 1) if c.id == child_id)
    with app.test_request_context():
        page = export_page(kid, document, now)
    return json_values(document), csv_values(to_csv(document)), html_values(page)


def test_json_csv_and_page_hold_the_same_records(app: Flask, client: FlaskClient,
                                                 db: sqlite_utils.Database) -> None:
    child_id = _child_with_awkward_data(client, db)
    from_json, from_csv, from_page = _three_formats(app, db, child_id)
    assert differences(from_json, from_csv) == []
    assert differences(from_json, from_page) == []
    values = {held[3] for held in from_json}
    assert {"Mia", *AWKWARD} <= values
    # Every kind of record is there, the accountability log included.
    assert {"children", "profile_facts", "intent_events", "consents", "audit_log"} <= {
        held[0] for held in from_json}


def test_negative_control_a_record_dropped_or_changed_in_one_format_is_caught(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = _child_with_awkward_data(client, db)
    from_json, from_csv, from_page = _three_formats(app, db, child_id)
    dropped = next(iter(from_csv))
    shorter = from_csv.copy()
    shorter[dropped] -= 1
    assert differences(from_json, shorter) == [f"missing {dropped}"]
    changed = next(h for h in from_page if h[3] == "Mia")
    altered = from_page.copy()
    altered[changed] -= 1
    altered[(*changed[:3], "Mía")] += 1
    assert len(differences(from_json, altered)) == 2


def test_csv_cells_cannot_run_as_spreadsheet_formulas() -> None:
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "'quoted", "plain", ""):
        written = safe_cell(value)
        assert not written.startswith(("=", "+", "-", "@")), written
        assert unsafe_cell(written) == value


def test_the_routes_download_csv_and_show_a_self_contained_page(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = _child_with_awkward_data(client, db)
    as_json = client.get(f"/parent/children/{child_id}/export.json").get_json()
    as_csv = client.get(f"/parent/children/{child_id}/export.csv")
    assert as_csv.mimetype == "text/csv"
    assert "attachment" in as_csv.headers["Content-Disposition"]
    page = client.get(f"/parent/children/{child_id}/export.html")
    assert page.mimetype == "text/html" and "inline" in page.headers["Content-Disposition"]
    saved = client.get(f"/parent/children/{child_id}/export.html?download=1")
    assert "attachment" in saved.headers["Content-Disposition"]
    body = page.get_data(as_text=True)
    # Self-contained: no stylesheet, script or image to fetch; the inline style is allowed by
    # its hash alone, never by 'unsafe-inline'.
    assert "<link" not in body and "<script" not in body and "<img" not in body
    policy = page.headers["Content-Security-Policy"]
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "unsafe-inline" not in policy and "@media print" in body
    # Each download adds its own audit entry, so the later ones hold one more record each;
    # everything else is the same in all three.
    def not_audit(values: Counter) -> Counter:  # type: ignore[type-arg]
        return Counter({h: n for h, n in values.items() if h[0] != "audit_log"})
    from_json = not_audit(json_values(as_json))
    assert differences(from_json, not_audit(csv_values(as_csv.get_data(as_text=True)))) == []
    assert differences(from_json, not_audit(html_values(body))) == []
    formats = [row[0] for row in db.execute(
        "SELECT details_json FROM audit_log WHERE action = 'data.export' ORDER BY seq")]
    assert [re.search(r'"format": "(\w+)"', f)[1] for f in formats] == [  # type: ignore[index]
        "json", "csv", "html", "html"]


def test_the_page_shows_local_times(app: Flask, client: FlaskClient,
                                    db: sqlite_utils.Database) -> None:
    child_id = _child_with_awkward_data(client, db)
    body = html.unescape(client.get(f"/parent/children/{child_id}/export.html")
                         .get_data(as_text=True))
    collected = db.execute("SELECT collected_at FROM profile_facts").fetchone()[0]
    assert local_time(collected, "DE") in body and "Europe/Berlin time" in body
    assert "+00:00" not in re.sub(r'datetime="[^"]+"', "", body)


# -- the printable erasure receipt --------------------------------------------------------------
CANARY_NAME = "Zebulonia"


def test_the_erasure_receipt_is_printable_and_names_nothing_erased(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    signup(client, "receipt@example.org")
    child_id = add_child(client, first_name=CANARY_NAME, country="DE")
    consent_by_card(client, child_id, {"core", "personalisation"})
    before = html.unescape(client.get(f"/parent/children/{child_id}/data").get_data(
        as_text=True))
    assert CANARY_NAME in before  # the canary is really shown while the child exists
    shown = html.unescape(submit(client, f"/parent/children/{child_id}/delete",
                                 {"confirm": "DELETE"}).get_data(as_text=True))
    job = db.execute("SELECT id, started_at FROM erasure_jobs").fetchone()
    link = re.search(r'id="receipt-printable" href="([^"]+)"', shown)
    assert link and "zone=Europe/Berlin" in link[1]
    printable = client.get(link[1])
    saved = client.get(link[1] + "&download=1")
    assert "attachment" in saved.headers["Content-Disposition"]
    assert job[0] in saved.headers["Content-Disposition"]
    page = html.unescape(printable.get_data(as_text=True))
    # A receipt read later, without the link's zone: the family has no child left to say
    # where it lives, so the times are in UTC, and say so.
    later = html.unescape(client.get(f"/parent/children/{child_id}/receipt").get_data(
        as_text=True))
    for receipt in (shown, page, later):
        assert job[0] in receipt and "Records removed" in receipt
        assert "Your child's record: 1" in receipt and "Your consent decisions: " in receipt
        assert CANARY_NAME not in receipt and CANARY_NAME.lower() not in receipt.lower()
    for receipt in (shown, page):
        assert zoned_time(job[1], zone_named("Europe/Berlin")) in receipt
    assert zoned_time(job[1], None) in later and "in UTC" in later
    assert "No trace found in" in page and "Deletion proven" in page
    assert "@media print" in page and "<link" not in page and "<script" not in page
    assert re.search(r"style-src 'sha256-", printable.headers["Content-Security-Policy"])
    # A zone the table does not know is ignored, never echoed.
    odd = client.get(f"/parent/children/{child_id}/receipt?zone=%3Cb%3E").get_data(as_text=True)
    assert "<b>" not in odd and "in UTC" in odd


def test_negative_control_the_canary_check_sees_a_name_on_the_receipt(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    """A name slipped into the stored receipt is seen by the same check on the page that
    shows the whole receipt: the check reads what the parent is given, not a summary."""
    signup(client, "leaky@example.org")
    child_id = add_child(client, first_name=CANARY_NAME, country="DE")
    submit(client, f"/parent/children/{child_id}/delete", {"confirm": "DELETE"})
    receipt = db.execute("SELECT receipt_json FROM erasure_jobs").fetchone()[0]
    leaky = json.loads(receipt)
    leaky["reason"] = CANARY_NAME
    db.execute("UPDATE erasure_jobs SET receipt_json = ?", [json.dumps(leaky)])
    page = client.get(f"/parent/children/{child_id}/receipt").get_data(as_text=True)
    shown = client.get(f"/parent/children/{child_id}/delete").get_data(as_text=True)
    assert CANARY_NAME in shown
    # The printable page shows facts, not the stored reason, so it stays clean.
    assert CANARY_NAME not in page


def test_no_receipt_before_an_erasure(client: FlaskClient) -> None:
    signup(client, "early@example.org")
    child_id = add_child(client, first_name="Ada")
    response = client.get(f"/parent/children/{child_id}/receipt")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/parent/children/{child_id}/delete")


def test_the_policy_hash_is_the_hash_of_the_inline_style(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    """The browser test bypasses the policy to inject axe-core, so the hash is checked here:
    a page whose style changed without its hash would show unstyled."""
    child_id = _child_with_awkward_data(client, db)
    response = client.get(f"/parent/children/{child_id}/export.html")
    inline = re.search(r"<style>(.*?)</style>", response.get_data(as_text=True), re.S)
    named = re.search(r"style-src 'sha256-([^']+)'", response.headers["Content-Security-Policy"])
    assert inline and named
    assert named[1] == base64.b64encode(hashlib.sha256(inline[1].encode()).digest()).decode()
    # Negative control: one character more and the hash no longer matches.
    assert named[1] != base64.b64encode(hashlib.sha256((inline[1] + " ").encode())
                                        .digest()).decode()


# -- error summaries on forms (issue 27.5) ------------------------------------------------------
def test_a_form_error_summary_is_focused_and_links_to_each_message(client: FlaskClient) -> None:
    from parent_web_helpers import CSRF_META

    page = client.get("/parent/signup").get_data(as_text=True)
    token = CSRF_META.search(page)[1]  # type: ignore[index]
    refused = client.post("/parent/signup", data={"csrf_token": token, "email": "nope",
                                                  "password": "short"})
    body = refused.get_data(as_text=True)
    summary = re.search(r'<div class="error error-summary" id="error-summary" role="alert" '
                        r'tabindex="-1" autofocus>(.*?)</div>', body, re.S)
    assert refused.status_code == 400 and summary
    targets = re.findall(r'href="#([\w-]+)"', summary[1])
    assert sorted(targets) == ["email-error", "password-error"]
    for target in targets:
        assert f'id="{target}"' in body
    # Negative control: a page without errors has no summary to move to.
    assert "error-summary" not in client.get("/parent/signup").get_data(as_text=True)
