"""The readable exports (issue 27.4): a printable page and a CSV beside the JSON, all three
built from one export document, so they hold the same records."""

from __future__ import annotations

import html
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
from parent_web_helpers import FAST_HASH, add_child, consent_by_card, signup

from cloud.child_data import export_document
from cloud.keys.fields import seal_value
from cloud.parent_web.dashboard import export_page
from cloud.parent_web.export_formats import safe_cell, to_csv, unsafe_cell
from cloud.parent_web.family import children_of
from cloud.parent_web.words import local_time

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
