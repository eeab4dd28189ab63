"""The parent web through the real Flask app and SQLite file: accounts, CSRF, rate limits,
family isolation, consent rules (R08-R14), the dashboard, export and deletion (R18, R22)."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import json
import re
import time
from pathlib import Path

import pytest
import sqlite_utils
from cloud_helpers import (
    db_for,
    dump_tables,
    intent_body,
    make_app,
    make_family,
    signed_intent_headers,
)
from flask import Flask
from flask.testing import FlaskClient
from parent_web_helpers import (
    CSRF_META,
    FAST_HASH,
    PASSWORD,
    add_child,
    choose,
    consent_by_card,
    mail_link,
    signup,
    submit,
)

from cloud.child_data import inventory, unreachable_tables
from cloud.clock import Clock
from cloud.consent import active_purposes
from cloud.keys.fields import seal_value
from cloud.parent_web.granting import grant_verified
from cloud.parent_web.notice_facts import days_words, disagreements, stated_days
from cloud.parent_web.outbox import messages_to
from cloud.parent_web.verification import luhn_valid
from cloud.parent_web.words import local_time
from cloud.storage.db import open_db
from scenarios.parent_client import sample_pdf, sample_png
from teddy.contracts.data_map import data_map

pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    return tmp_path / "clock-offset"


def fast_app(tmp_path: Path, **overrides: object) -> Flask:
    app = make_app(tmp_path, **overrides)
    app.config["PASSWORD_HASH_PARAMS"] = FAST_HASH
    return app


@pytest.fixture
def app(tmp_path: Path, clock_file: Path, cloud_db_path: str) -> Flask:
    return fast_app(tmp_path, clock_file=str(clock_file), db_path=cloud_db_path)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def family_with_child(client: FlaskClient, email: str, **child: str) -> int:
    signup(client, email)
    return add_child(client, **child)


# -- accounts and sessions -------------------------------------------------------------------
def test_signup_stores_only_an_argon2_hash_and_signs_in(client: FlaskClient,
                                                        db: sqlite_utils.Database) -> None:
    response = signup(client, "Pat@Example.org")
    assert response.headers["Location"].endswith("/parent/")
    email, stored = db.execute("SELECT email, password_hash FROM parents").fetchone()
    assert email == "pat@example.org"
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert "Your family" in text(client.get("/parent/"))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_flag_follows_configuration(tmp_path: Path) -> None:
    client = fast_app(tmp_path, session_cookie_secure=True).test_client()
    response = signup(client, "secure@example.org")
    assert "Secure" in response.headers["Set-Cookie"]


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    assert app.config["TEDDY"].session_cookie_secure is False
    plain_wsgi = app.wsgi_app

    def over_tls(environ, start_response):  # type: ignore[no-untyped-def]
        # What gunicorn's TLS listener (`teddy cloud serve --tls`) hands the app.
        return plain_wsgi({**environ, "wsgi.url_scheme": "https"}, start_response)

    app.wsgi_app = over_tls  # type: ignore[method-assign]
    response = signup(app.test_client(), "tls@example.org")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # Over plain HTTP (loopback development) neither is claimed.
    app.wsgi_app = plain_wsgi  # type: ignore[method-assign]
    plain = app.test_client().get("/parent/login")
    assert "Strict-Transport-Security" not in plain.headers


def test_bad_signups_are_refused_and_change_nothing(client: FlaskClient,
                                                    db: sqlite_utils.Database) -> None:
    before = dump_tables(db)
    for email, password, field, message in [
        ("not-an-email", PASSWORD, "email", "valid e-mail"),
        ("short@example.org", "too short", "password", "at least 10"),
        ("x" * 300 + "@example.org", PASSWORD, "email", "valid e-mail"),
        ("spaces@example.org", " " * 10, "password", "repeats"),
        ("digits@example.org", "1234567890", "password", "run of keys"),
        ("same@example.org", "aaaaaaaaaaaa", "password", "repeats"),
        ("common@example.org", "password123", "password", "most common"),
        ("common@example.org", "Qwerty123456!", "password", "most common"),
    ]:
        response = submit(client, "/parent/signup", {"email": email, "password": password})
        page = text(response)
        assert response.status_code == 400 and message in page, (email, password)
        # The message sits right under its field and is tied to it for screen readers.
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"[^>]*>\s*<p class="field-error" '
                         rf'id="{field}-error"', page), page
    assert dump_tables(db) == before


def test_signup_never_says_whether_an_address_has_an_account(app: Flask, client: FlaskClient,
                                                             db: sqlite_utils.Database) -> None:
    signup(client, "taken@example.org")
    submit(client, "/parent/logout")
    hash_before = db.execute("SELECT password_hash FROM parents").fetchone()[0]
    other = app.test_client()
    taken = submit(other, "/parent/signup", {"email": "TAKEN@example.org",
                                             "password": "another long passphrase"})
    fresh = submit(other, "/parent/signup", {"email": "fresh@example.org",
                                             "password": "another long passphrase"})
    assert taken.status_code == fresh.status_code == 200
    assert (text(taken).replace("taken@example.org", "ADDRESS")
            == text(fresh).replace("fresh@example.org", "ADDRESS"))
    assert "Set-Cookie" not in taken.headers or "sid" not in str(other.get_cookie("session"))
    # The owner of the taken address is told, in their own mailbox; nothing changed.
    told = mail_link(client, "taken@example.org", "/parent/forgot")
    assert told == "/parent/forgot"
    assert db.execute("SELECT password_hash FROM parents WHERE email = 'taken@example.org'"
                      ).fetchone()[0] == hash_before
    # The new address cannot be used until its mailbox confirms it.
    refused = submit(other, "/parent/login", {"email": "fresh@example.org",
                                              "password": "another long passphrase"})
    assert refused.status_code == 401
    assert "do not match" in text(refused)


def test_signup_is_throttled_per_address(app: Flask, client: FlaskClient) -> None:
    limit = app.config["TEDDY"].login_attempts_per_15_min
    for n in range(limit):
        response = submit(client, "/parent/signup", {"email": f"bulk{n}@example.org",
                                                     "password": PASSWORD})
        assert response.status_code == 200
    blocked = submit(client, "/parent/signup", {"email": "bulk-last@example.org",
                                                "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many sign-ups" in text(blocked)
    elsewhere = submit(app.test_client(), "/parent/signup",
                       {"email": "elsewhere@example.org", "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 200


def test_a_confirmation_link_works_once(app: Flask, client: FlaskClient) -> None:
    submit(client, "/parent/signup", {"email": "once@example.org", "password": PASSWORD})
    link = mail_link(client, "once@example.org", "/parent/signup/confirm/")
    assert submit(client, link, {"password": PASSWORD}).status_code == 302
    again = submit(app.test_client(), link, {"password": PASSWORD})
    assert again.status_code == 410 and "no longer works" in text(again)
    assert app.test_client().get(link).status_code == 410


def _confirm_links(app: Flask, email: str) -> list[str]:
    db = open_db(app.config["TEDDY"].db_path)
    now = app.extensions["teddy.clock"].time()
    return [m.link for m in messages_to(db, email, now)
            if m.link and m.link.startswith("/parent/signup/confirm/")]


ATTACKER_PASSWORD = "attacker knows this one 4821"


def _signs_in(app: Flask, email: str, password: str) -> bool:
    response = submit(app.test_client(), "/parent/login", {"email": email,
                                                           "password": password},
                      environ_base={"REMOTE_ADDR": "192.0.2.50"})
    return response.status_code == 302


def test_signing_up_again_never_replaces_a_pending_password(app: Flask,
                                                            client: FlaskClient) -> None:
    """Issue 26 item 3: a second sign-up for a waiting address must not take the account."""
    submit(client, "/parent/signup", {"email": "victim@example.org", "password": PASSWORD})
    attacker = app.test_client()
    resent = submit(attacker, "/parent/signup", {"email": "victim@example.org",
                                                 "password": ATTACKER_PASSWORD},
                    environ_base={"REMOTE_ADDR": "192.0.2.66"})
    assert resent.status_code == 200  # the same page whatever the address
    links = _confirm_links(app, "victim@example.org")
    assert len(links) == 2
    # The victim opens the newest e-mail (listed first): the attacker's password confirms nothing.
    refused = submit(client, links[0], {"password": ATTACKER_PASSWORD})
    assert refused.status_code == 401 and "not the password" in text(refused)
    assert not _signs_in(app, "victim@example.org", ATTACKER_PASSWORD)
    assert submit(client, links[0], {"password": PASSWORD}).status_code == 302
    assert _signs_in(app, "victim@example.org", PASSWORD)
    assert not _signs_in(app, "victim@example.org", ATTACKER_PASSWORD)


def test_confirming_requires_the_password_and_an_early_squatter_is_undone_by_a_reset(
        app: Flask, client: FlaskClient) -> None:
    attacker = app.test_client()
    submit(attacker, "/parent/signup", {"email": "squat@example.org",
                                        "password": ATTACKER_PASSWORD},
           environ_base={"REMOTE_ADDR": "192.0.2.66"})
    submit(client, "/parent/signup", {"email": "squat@example.org", "password": PASSWORD})
    link = _confirm_links(app, "squat@example.org")[0]
    assert "Password" in text(client.get(link))
    for wrong in ("", PASSWORD):
        refused = submit(client, link, {"password": wrong})
        assert refused.status_code == 401 and "Forgot your password" in text(refused)
    # The link still works (a wrong password does not spend it), and "forgot" takes it back.
    submit(client, "/parent/forgot", {"email": "squat@example.org"})
    reset = mail_link(client, "squat@example.org", "/parent/reset/")
    assert submit(client, reset, {"password": PASSWORD}).status_code == 302
    assert _signs_in(app, "squat@example.org", PASSWORD)
    assert not _signs_in(app, "squat@example.org", ATTACKER_PASSWORD)


@pytest.mark.parametrize("password", ["pat.smith@example.org", "Pat.Smith@Example.org!",
                                      "pat.smith1234", " pat.smith@example.org "])
def test_the_email_address_is_refused_as_the_password(client: FlaskClient,
                                                      db: sqlite_utils.Database,
                                                      password: str) -> None:
    refused = submit(client, "/parent/signup", {"email": "pat.smith@example.org",
                                                "password": password})
    assert refused.status_code == 400 and "e-mail address" in text(refused)
    assert db.execute("SELECT COUNT(*) FROM parents").fetchone()[0] == 0


def test_negative_control_a_password_that_merely_contains_the_name_is_fine(
        client: FlaskClient) -> None:
    sent = submit(client, "/parent/signup", {"email": "pat.smith@example.org",
                                             "password": "pat.smith walks the dog at nine"})
    assert sent.status_code == 200


@pytest.mark.parametrize(("path", "fields"), [
    ("/parent/login", {"email": "a\x00b@example.org", "password": PASSWORD}),
    ("/parent/login", {"email": "ab@example.org", "password": "pass\x00word-is-long"}),
    ("/parent/forgot", {"email": "a\x00b@example.org"}),
    ("/parent/signup", {"email": "a\x00b@example.org", "password": PASSWORD}),
    ("/parent/signup", {"email": "ab@example.org", "password": PASSWORD + "\x00"}),
])
def test_a_nul_byte_gets_a_clear_400_and_changes_nothing(
        client: FlaskClient, db: sqlite_utils.Database, path: str,
        fields: dict[str, str]) -> None:
    before = dump_tables(db)
    refused = submit(client, path, fields)
    assert refused.status_code == 400 and "NUL byte" in text(refused)
    assert dump_tables(db) == before


def test_a_cookie_copied_before_sign_out_reads_nothing(tmp_path: Path) -> None:
    app = fast_app(tmp_path)
    client = app.test_client()
    child_id = family_with_child(client, "stolen@example.org")
    stolen = client.get_cookie("session").value
    assert client.get(f"/parent/children/{child_id}/data").status_code == 200
    submit(client, "/parent/logout")

    def thief_on(app_: Flask) -> FlaskClient:
        thief = app_.test_client()
        thief.set_cookie("session", stolen)
        return thief

    thief = thief_on(app)
    for path in ("/parent/", f"/parent/children/{child_id}/data",
                 f"/parent/children/{child_id}/export.json",
                 f"/parent/children/{child_id}/export.csv",
                 f"/parent/children/{child_id}/export.html", "/parent/account"):
        response = thief.get(path)
        assert response.status_code == 302 and "/parent/login" in response.headers["Location"]
    # Changing data needs a session too: the cookie's CSRF token alone gets nothing done.
    token = re.search(r'name="csrf-token" content="([^"]+)"',
                      thief.get("/parent/login").get_data(as_text=True))[1]
    changed = thief.post(f"/parent/children/{child_id}/delete",
                         data={"csrf_token": token, "confirm": "DELETE"})
    assert changed.status_code == 302 and "/parent/login" in changed.headers["Location"]
    # Also after a restart on the same database.
    restarted = fast_app(tmp_path)
    assert thief_on(restarted).get("/parent/").status_code == 302
    db = db_for(restarted)
    assert db.execute("SELECT COUNT(*) FROM children").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM parent_sessions").fetchone()[0] == 0


def test_only_a_hash_of_the_session_token_is_stored(client: FlaskClient,
                                                    db: sqlite_utils.Database) -> None:
    signup(client, "hash@example.org")
    from flask.sessions import SecureCookieSessionInterface
    serializer = SecureCookieSessionInterface().get_signing_serializer(client.application)
    token = serializer.loads(client.get_cookie("session").value)["sid"]
    stored = db.execute("SELECT token_hash FROM parent_sessions").fetchall()
    assert len(stored) == 1 and token not in str(stored)
    assert stored[0][0] == hashlib.sha256(token.encode()).hexdigest()


def test_sessions_end_after_idling_and_after_their_lifetime(app: Flask, client: FlaskClient,
                                                            clock_file: Path) -> None:
    config = app.config["TEDDY"]
    signup(client, "idle@example.org")
    clock = Clock(str(clock_file))
    clock.advance(config.session_idle_minutes * 60 - 120)
    assert client.get("/parent/").status_code == 200      # still in use: stays alive
    clock.advance(config.session_idle_minutes * 60 - 120)
    assert client.get("/parent/").status_code == 200
    clock.advance(config.session_idle_minutes * 60 + 1)
    assert client.get("/parent/").status_code == 302      # idled out
    # Busy all the time, a session still ends at its absolute lifetime.
    submit(client, "/parent/login", {"email": "idle@example.org", "password": PASSWORD})
    steps = int(config.session_max_hours * 60 / (config.session_idle_minutes / 2))
    for _ in range(steps - 1):
        clock.advance(config.session_idle_minutes * 30)
        assert client.get("/parent/").status_code == 200
    clock.advance(config.session_idle_minutes * 30 + 1)
    assert client.get("/parent/").status_code == 302


def test_sign_out_everywhere_ends_every_session(app: Flask, client: FlaskClient,
                                                db: sqlite_utils.Database) -> None:
    signup(client, "everywhere@example.org")
    phone = app.test_client()
    submit(phone, "/parent/login", {"email": "everywhere@example.org", "password": PASSWORD})
    assert phone.get("/parent/").status_code == 200
    assert "signed in on 2 devices" in text(client.get("/parent/account"))
    response = submit(client, "/parent/account/sign-out-everywhere")
    assert response.status_code == 302
    assert phone.get("/parent/").status_code == 302
    assert client.get("/parent/").status_code == 302
    assert db.execute("SELECT COUNT(*) FROM parent_sessions").fetchone()[0] == 0


def test_change_password_signs_out_other_devices(app: Flask, client: FlaskClient) -> None:
    signup(client, "change@example.org")
    phone = app.test_client()
    submit(phone, "/parent/login", {"email": "change@example.org", "password": PASSWORD})
    wrong = submit(client, "/parent/account/password",
                   {"current_password": "not it at all", "new_password": "a new long phrase"})
    assert wrong.status_code == 400 and 'id="current_password-error"' in text(wrong)
    weak = submit(client, "/parent/account/password",
                  {"current_password": PASSWORD, "new_password": "1234567890"})
    assert weak.status_code == 400 and 'id="new_password-error"' in text(weak)
    done = submit(client, "/parent/account/password",
                  {"current_password": PASSWORD, "new_password": "a new long phrase"})
    assert done.status_code == 302
    assert client.get("/parent/").status_code == 200      # this device stays signed in
    assert phone.get("/parent/").status_code == 302       # the other is signed out
    old = submit(phone, "/parent/login", {"email": "change@example.org", "password": PASSWORD})
    assert old.status_code == 401
    new = submit(phone, "/parent/login", {"email": "change@example.org",
                                          "password": "a new long phrase"})
    assert new.status_code == 302


def test_forgotten_password_reset_by_a_single_use_expiring_link(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database, clock_file: Path) -> None:
    signup(client, "forgot@example.org")
    stranger = app.test_client()
    known = submit(stranger, "/parent/forgot", {"email": "forgot@example.org"})
    unknown = submit(stranger, "/parent/forgot", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert (text(known).replace("forgot@example.org", "X")
            == text(unknown).replace("nobody@example.org", "X"))
    link = mail_link(client, "forgot@example.org", "/parent/reset/")
    token = link.rsplit("/", 1)[1]
    stored = str(db.execute("SELECT * FROM parent_tokens").fetchall())
    assert token not in stored and hashlib.sha256(token.encode()).hexdigest() in stored
    reader = app.test_client()
    assert reader.get(link).status_code == 200
    weak = submit(reader, link, {"password": " " * 12})
    assert weak.status_code == 400 and 'id="password-error"' in text(weak)
    done = submit(reader, link, {"password": "brand new passphrase"})
    assert done.status_code == 302
    assert client.get("/parent/").status_code == 302      # every session ended
    assert submit(reader, link, {"password": "yet another passphrase"}).status_code == 410
    assert submit(reader, "/parent/login", {"email": "forgot@example.org",
                                            "password": "brand new passphrase"}
                  ).status_code == 302
    # A link not used within its hour stops working.
    submit(stranger, "/parent/forgot", {"email": "forgot@example.org"})
    late = mail_link(client, "forgot@example.org", "/parent/reset/")
    Clock(str(clock_file)).advance(3601)
    assert submit(stranger, late, {"password": "too late passphrase"}).status_code == 410


def test_closing_the_account_erases_every_child_with_receipts(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    first = family_with_child(client, "close@example.org", first_name="Emma")
    second = add_child(client, first_name="Noah")
    consent_by_card(client, first, {"core", "personalisation"})
    other = app.test_client()
    kept = family_with_child(other, "stays@example.org", first_name="Mia")
    refused = submit(client, "/parent/account/close", {"password": PASSWORD, "confirm": "no"})
    assert refused.status_code == 400 and 'id="confirm-error"' in text(refused)
    wrong = submit(client, "/parent/account/close", {"password": "wrong password!",
                                                     "confirm": "DELETE"})
    assert wrong.status_code == 400 and 'id="password-error"' in text(wrong)
    assert db.execute("SELECT COUNT(*) FROM children").fetchone()[0] == 3
    closed = submit(client, "/parent/account/close", {"password": PASSWORD,
                                                      "confirm": "DELETE"})
    assert closed.status_code == 200
    page = text(closed)
    assert page.count("data-receipt-id=") == 2 and "Your account is closed" in page
    assert [r[0] for r in db.execute("SELECT id FROM children")] == [kept]
    assert db.execute("SELECT COUNT(*) FROM parents WHERE email = 'close@example.org'"
                      ).fetchone()[0] == 0
    for table in ("parent_sessions", "parent_outbox", "consents", "parent_tokens"):
        rows = db.execute(f"SELECT COUNT(*) FROM {table} WHERE parent_id NOT IN "
                          "(SELECT id FROM parents)").fetchone()[0]
        assert rows == 0, table
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log")]
    assert actions.count("child.erase") == 2 and "parent.close" in actions
    assert {first, second}.isdisjoint(r[0] for r in db.execute("SELECT id FROM children"))
    assert client.get("/parent/").status_code == 302


def test_pages_need_a_signed_in_parent(client: FlaskClient) -> None:
    response = client.get("/parent/children/1/data")
    assert response.status_code == 302
    assert "/parent/login?next=/parent/children/1/data" in response.headers["Location"]


# -- CSRF --------------------------------------------------------------------------------------
def test_every_form_without_its_csrf_token_is_refused(app: Flask, client: FlaskClient,
                                                      db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "csrf@example.org")
    before = dump_tables(db)
    posts = [rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("parent_web.") and "POST" in (rule.methods or ())]
    assert len(posts) >= 10
    for rule in posts:
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: {"child_id": str(child_id),
                                                       "purpose": "core", "table": "devices",
                                                       "row_id": "1", "request_id": "x",
                                                       "token": "x"}[m[1]],
                      rule.rule)
        for data in ({}, {"csrf_token": "forged"}):
            response = client.post(path, data={**data, "email": "a@b.org", "confirm": "DELETE"})
            assert response.status_code == 400, path
            assert "did not come from Teddy" in text(response)
    assert dump_tables(db) == before
    # The same session's real token works.
    assert submit(client, f"/parent/children/{child_id}/pair").status_code == 302


# -- sign-in rate limit -------------------------------------------------------------------------
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}


def test_guessing_from_elsewhere_never_locks_the_parent_out(app: Flask, client: FlaskClient,
                                                           db: sqlite_utils.Database,
                                                           clock_file: Path) -> None:
    signup(client, "target@example.org")
    submit(client, "/parent/logout")
    limit = app.config["TEDDY"].login_attempts_per_15_min
    attacker = app.test_client()
    for _ in range(limit):
        response = submit(attacker, "/parent/login", {"email": "target@example.org",
                                                      "password": "guess guess guess"},
                          environ_base=ATTACKER)
        assert response.status_code == 401
    blocked = submit(attacker, "/parent/login",
                     {"email": "target@example.org", "password": PASSWORD},
                     environ_base=ATTACKER)
    assert blocked.status_code == 429 and "Too many sign-in attempts" in text(blocked)
    assert int(blocked.headers["Retry-After"]) > 0
    # The parent, from their own address, still gets in with the right password.
    own = submit(client, "/parent/login", {"email": "target@example.org", "password": PASSWORD})
    assert own.status_code == 302 and own.headers["Location"].endswith("/parent/")
    stored = " ".join(str(r) for r in db.execute("SELECT * FROM login_attempts").fetchall())
    assert "target@example.org" not in stored and "203.0.113.66" not in stored
    Clock(str(clock_file)).advance(15 * 60 + 1)
    allowed = submit(attacker, "/parent/login",
                     {"email": "target@example.org", "password": PASSWORD},
                     environ_base=ATTACKER)
    assert allowed.status_code == 302


def test_one_address_guessing_many_accounts_is_rate_limited(app: Flask,
                                                            client: FlaskClient) -> None:
    limit = app.config["TEDDY"].login_attempts_per_15_min * 4
    for n in range(limit):
        response = submit(client, "/parent/login",
                          {"email": f"victim{n}@example.org", "password": "guess guess"},
                          environ_base=ATTACKER)
        assert response.status_code == 401
    response = submit(client, "/parent/login",
                      {"email": "another@example.org", "password": "guess guess"},
                      environ_base=ATTACKER)
    assert response.status_code == 429


# -- family isolation (R26) -----------------------------------------------------------------------
def test_a_parent_can_never_reach_another_familys_child(app: Flask,
                                                        db: sqlite_utils.Database) -> None:
    alice, mallory = app.test_client(), app.test_client()
    alice_child = family_with_child(alice, "alice@example.org", first_name="Zoe")
    consent_by_card(alice, alice_child, {"core", "personalisation"})
    submit(alice, f"/parent/children/{alice_child}/pair")
    db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
               "collected_at, expires_at) VALUES (?, 'child.preference', 'favorite_animal', "
               "?, 'personalisation', ?, ?)",
               [alice_child, seal_value(db, alice_child, "profile_facts", "value", "okapi"),
                time.time(), time.time() + 99])
    fact_id = db.execute("SELECT id FROM profile_facts").fetchone()[0]
    mallory_child = family_with_child(mallory, "mallory@example.org")
    before = dump_tables(db)
    for path in ("", "/data", "/export.json", "/export.csv", "/export.html", "/consent",
                 "/verify", "/delete", "/consent-form"):
        response = mallory.get(f"/parent/children/{alice_child}{path}")
        assert response.status_code == 404, path
        assert "Zoe" not in text(response) and "okapi" not in text(response)
    for path, data in [("/pair", {}), ("/consent/core/revoke", {}),
                       ("/consent", {"decline_all": "1"}), ("/delete", {"confirm": "DELETE"}),
                       (f"/data/profile_facts/{fact_id}/delete", {})]:
        response = submit(mallory, f"/parent/children/{alice_child}{path}", data)
        assert response.status_code == 404, path
    # Alice's row id through Mallory's own child: the erasure finds nothing of Mallory's.
    submit(mallory, f"/parent/children/{mallory_child}/data/profile_facts/{fact_id}/delete")
    assert db.execute("SELECT value FROM profile_facts WHERE id = ?", [fact_id]).fetchone()
    assert "Zoe" not in text(mallory.get("/parent/")) and "okapi" not in text(
        mallory.get(f"/parent/children/{mallory_child}/data"))
    after = dump_tables(db)
    assert {t: r for t, r in after.items() if t != "audit_log"} == \
        {t: r for t, r in before.items() if t != "audit_log"}


# -- children (R13) -----------------------------------------------------------------------------
def test_child_form_shows_consent_ages_and_refuses_bad_input(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    signup(client, "ages@example.org")
    form = text(client.get("/parent/children/new"))
    assert "Germany (parental consent under 16)" in form
    assert "United States (parental consent under 13)" in form
    before = dump_tables(db)
    for data in ({"age_band": "6-8", "country": "XX"}, {"age_band": "42", "country": "US"},
                 {"age_band": "6-8", "country": "US", "first_name": "<script>"},
                 {"age_band": "6-8", "country": "US", "first_name": "A" * 41}):
        assert submit(client, "/parent/children/new", data).status_code == 400
    assert dump_tables(db) == before
    child_id = add_child(client, "Léa", "13-15", "DE")
    page = text(client.get(f"/parent/children/{child_id}"))
    assert "Consent age in Germany: 16" in page and "Léa" in page
    # The hint says where the name goes: the pages, and the toy's replies with personalisation.
    hint = re.search(r'<p class="hint" id="name-hint">(.*?)</p>', form, re.S)
    assert hint and "Teddy also says it in its replies" in hint[1]
    assert "only for your own pages" not in hint[1].lower()


def test_every_address_a_parent_can_land_on_renders_a_page(app: Flask,
                                                          client: FlaskClient) -> None:
    """Reloading after a form, or following a bookmark: a page or a redirect, never a bare
    405 or 404 (the 404 of another family's child is a page too)."""
    child_id = family_with_child(client, "land@example.org")
    values = {"child_id": str(child_id), "purpose": "core", "table": "intent_events",
              "row_id": "1", "request_id": "unknown",
              "receipt_id": "erasure-item-unknown", "token": "unknown", "filename": "parent.css"}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("parent_web."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m[1]], rule.rule)
        response = client.get(path)
        assert response.status_code in (200, 302, 410) or (
            response.status_code == 404 and "Not found" in text(response)), path
        assert response.status_code != 405, path
        if response.status_code != 302 and response.mimetype == "text/html":
            assert "<h1>" in text(response), path


# -- consent: R08, R09, R10, R14 -----------------------------------------------------------------
def test_consent_page_has_no_preselected_choice_and_declining_is_as_visible(
        client: FlaskClient) -> None:
    child_id = family_with_child(client, "r14@example.org")
    page = text(client.get(f"/parent/children/{child_id}/consent"))
    assert not re.search(r"<input[^>]*\bchecked\b", page)
    for purpose in data_map().consentable_purposes:
        assert f'name="choice_{purpose}" value="yes"' in page
        assert f'name="choice_{purpose}" value="no"' in page
    buttons = re.findall(r'<button type="submit" class="([^"]+)"[^>]*>([^<]+)</button>', page)
    classes = {label: cls for cls, label in buttons}
    assert classes["Save my choices"] == classes["Don't allow anything"]
    assert "Kept for" in page and "not stored" in page  # retention shown with the notice (R17)


def test_card_consent_records_method_and_notice_and_stores_no_card(
        client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "card@example.org")
    response = consent_by_card(client, child_id, {"core", "personalisation"})
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "Charged $0.50 to the card ending 4242" in page and "Refunded $0.50" in page
    # One short confirmation for the action, with no internal identifiers in it.
    banners = re.findall(r'<p class="flash[^"]*">(.*?)</p>', page, re.S)
    assert len(banners) == 1 and "Now allowed: Core operation, Personalisation" in banners[0]
    assert not re.search(r"\b(ch|re)_test_|\bchild:\d|\breq", banners[0])
    rows = db.execute("SELECT purpose, method, notice_version, parent_id, granted_at "
                      "FROM consents WHERE revoked_at IS NULL ORDER BY purpose").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("core", "payment_card", 1),
                                                  ("personalisation", "payment_card", 1)]
    assert all(r[3] and r[4] for r in rows)
    assert "4242" not in json.dumps(dump_tables(db))
    assert active_purposes(db, child_id, 1) == {"core", "personalisation"}


@pytest.mark.parametrize(("number", "expiry", "message"), [
    ("4242 4242 4242 4241", "12/34", "not a valid card number"),
    ("4000 0000 0000 0002", "12/34", "declined"),
    ("4242 4242 4242 4242", "01/20", "expired"),
    ("42", "12/34", "13 to 19 digits"),
])
def test_failed_card_checks_change_nothing(client: FlaskClient, db: sqlite_utils.Database,
                                           number: str, expiry: str, message: str) -> None:
    child_id = family_with_child(client, "declined@example.org")
    choose(client, child_id, {"core"}, "payment_card")
    before = dump_tables(db)
    response = submit(client, f"/parent/children/{child_id}/verify",
                      {"card_number": number, "expiry": expiry, "cvc": "123"})
    assert response.status_code == 400 and message in text(response)
    assert dump_tables(db) == before


def test_luhn_checksum() -> None:
    assert luhn_valid("4242424242424242") and luhn_valid("79927398713")
    assert not luhn_valid("4242424242424241") and not luhn_valid("79927398710")


def test_knowledge_questions_must_all_match(client: FlaskClient,
                                            db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "kba@example.org")
    choose(client, child_id, {"core"}, "knowledge_questions")
    wrong = {"kba_street": "Maple Avenue", "kba_car": "2019 Ford Focus",
             "kba_county": "King County"}
    response = submit(client, f"/parent/children/{child_id}/verify", wrong)
    assert response.status_code == 400 and "do not match" in text(response)
    assert active_purposes(db, child_id, 1) == set()
    right = {**wrong, "kba_car": "2014 Toyota Corolla"}
    assert submit(client, f"/parent/children/{child_id}/verify", right).status_code == 302
    assert active_purposes(db, child_id, 1) == {"core"}


def test_id_image_is_checked_and_never_stored(client: FlaskClient, db: sqlite_utils.Database,
                                              app: Flask, cloud_backend: str) -> None:
    child_id = family_with_child(client, "id@example.org")
    marker = b"ID-CANARY-7f3a91"
    image = sample_png(640, 400)
    # A text chunk carrying a canary, inserted before IEND, so its bytes can be searched for.
    chunk = (len(b"Comment\x00" + marker).to_bytes(4, "big") + b"tEXt" + b"Comment\x00"
             + marker + b"\x00\x00\x00\x00")
    image = image[:-12] + chunk + image[-12:]
    choose(client, child_id, {"core"}, "government_id")
    for bad, message in [(b"%PDF-1.4 not an image" * 100, "not a photo we can read"),
                         (sample_png(640, 640), "licence or passport"),
                         (sample_png(120, 80), "too small")]:
        response = submit(client, f"/parent/children/{child_id}/verify",
                          {"id_image": (io.BytesIO(bad), "id.png")},
                          content_type="multipart/form-data")
        assert response.status_code == 400 and message in text(response)
    assert active_purposes(db, child_id, 1) == set()
    response = submit(client, f"/parent/children/{child_id}/verify",
                      {"id_image": (io.BytesIO(image), "id.png")},
                      content_type="multipart/form-data")
    assert response.status_code == 302
    assert active_purposes(db, child_id, 1) == {"core"}
    assert marker.decode() not in repr(dump_tables(db))
    if cloud_backend == "sqlite":  # and in no file beside the database, nor in its pages
        db_path = Path(app.config["TEDDY"].db_path)
        for path in db_path.parent.iterdir():
            assert marker not in path.read_bytes(), path


def test_signed_form_and_face_match(client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "forms@example.org")
    choose(client, child_id, {"core"}, "signed_form")
    response = submit(client, f"/parent/children/{child_id}/verify",
                      {"signer_name": "Pat Example",
                       "signed_form": (io.BytesIO(sample_pdf()), "form.pdf")},
                      content_type="multipart/form-data")
    assert response.status_code == 302
    choose(client, child_id, {"core", "history"}, "face_match")
    same = sample_png(640, 400)
    response = submit(client, f"/parent/children/{child_id}/verify",
                      {"id_image": (io.BytesIO(same), "id.png"),
                       "selfie": (io.BytesIO(same), "me.png")},
                      content_type="multipart/form-data")
    assert response.status_code == 400 and "same picture" in text(response)
    response = submit(client, f"/parent/children/{child_id}/verify",
                      {"id_image": (io.BytesIO(same), "id.png"),
                       "selfie": (io.BytesIO(sample_png(300, 360, seed=3)), "me.png")},
                      content_type="multipart/form-data")
    assert response.status_code == 302
    methods = dict(db.execute("SELECT purpose, method FROM consents WHERE revoked_at IS NULL"))
    assert methods == {"core": "signed_form", "history": "face_match"}


@pytest.mark.parametrize("method", ["email_plus", "text_plus"])
def test_email_and_text_plus_can_never_enable_third_party_sharing(
        client: FlaskClient, db: sqlite_utils.Database, method: str) -> None:
    child_id = family_with_child(client, f"{method}@example.org")
    before = dump_tables(db)
    response = choose(client, child_id, {"core", "third_party"}, method)
    assert response.status_code == 400
    assert "not strong enough to allow sharing with partners" in text(response)
    assert dump_tables(db) == before
    with pytest.raises(PermissionError):
        grant_verified(db, child_id=child_id, parent_id=1, purposes=["third_party"],
                       method=method, notice_version=1, now=time.time())
    assert dump_tables(db) == before


def test_email_plus_confirms_by_link_and_sends_a_delayed_confirmation(
        client: FlaskClient, db: sqlite_utils.Database, clock_file: Path) -> None:
    child_id = family_with_child(client, "mail@example.org")
    choose(client, child_id, {"core", "history"}, "email_plus")
    response = submit(client, f"/parent/children/{child_id}/verify")
    assert response.status_code == 302
    challenge_path = response.headers["Location"]
    mailbox = text(client.get("/parent/outbox"))
    link = re.search(r'href="(/parent/verify/[^"]+)" data-link', mailbox)
    assert link and "mail@example.org" in mailbox
    assert active_purposes(db, child_id, 1) == set()
    wrong = submit(client, challenge_path, {"token": "not-the-token"})
    assert wrong.status_code == 400 and active_purposes(db, child_id, 1) == set()
    confirm_page = text(client.get(link[1]))
    token = re.search(r'name="token" value="([^"]+)"', confirm_page)
    assert token
    assert submit(client, challenge_path, {"token": token[1]}).status_code == 302
    assert active_purposes(db, child_id, 1) == {"core", "history"}
    assert submit(client, challenge_path, {"token": token[1]}).status_code == 404  # single use
    mailbox = text(client.get("/parent/outbox"))
    assert 'data-delivered="no"' in mailbox and "We are confirming the consent" in mailbox
    Clock(str(clock_file)).advance(24 * 3600 + 1)
    assert 'data-delivered="no"' not in text(client.get("/parent/outbox"))


def test_text_plus_code_attempts_are_limited(client: FlaskClient,
                                             db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "sms@example.org")
    choose(client, child_id, {"core"}, "text_plus")
    bad_phone = submit(client, f"/parent/children/{child_id}/verify", {"phone": "call me"})
    assert bad_phone.status_code == 400
    response = submit(client, f"/parent/children/{child_id}/verify", {"phone": "+1 555 0100 234"})
    challenge_path = response.headers["Location"]
    mailbox = text(client.get("/parent/outbox"))
    assert "•••• 34" in mailbox and "555 0100" not in json.dumps(dump_tables(db))
    code = re.search(r"consent code is (\d{6})", mailbox)
    assert code
    wrong_code = f"{(int(code[1]) + 1) % 10**6:06d}"
    for _ in range(5):
        submit(client, challenge_path, {"code": wrong_code})
    assert submit(client, challenge_path, {"code": code[1]}).status_code == 404
    assert active_purposes(db, child_id, 1) == set()


def test_decline_all_turns_everything_off(client: FlaskClient,
                                          db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "decline@example.org")
    consent_by_card(client, child_id, {"core", "personalisation", "history", "third_party"})
    assert len(active_purposes(db, child_id, 1)) == 4
    # Erasing asks first: nothing is turned off until the parent confirms.
    ask = submit(client, f"/parent/children/{child_id}/consent", {"decline_all": "1"})
    assert ask.status_code == 200 and "Turn off and erase" in text(ask)
    assert len(active_purposes(db, child_id, 1)) == 4
    response = submit(client, f"/parent/children/{child_id}/consent",
                      {"decline_all": "1", "confirmed": "1"})
    assert response.status_code == 302
    assert active_purposes(db, child_id, 1) == set()
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log")]
    assert actions.count("consent.revoke") == 4


def test_unanswered_or_inconsistent_choices_are_refused(client: FlaskClient,
                                                        db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "half@example.org")
    before = dump_tables(db)
    nothing = submit(client, f"/parent/children/{child_id}/consent", {"method": "payment_card"})
    assert nothing.status_code == 400 and "Choose Allow or Don't allow" in text(nothing)
    # The message sits in the first choice, and the summary on top links to it.
    page = text(nothing)
    assert re.search(r'id="choice-core"[^>]*>\s*<legend>.*?</legend>\s*'
                     r'<p class="field-error" id="core-error">Choose Allow', page, re.S)
    assert 'href="#core-error"' in page
    forged = submit(client, f"/parent/children/{child_id}/consent",
                    {"choice_core": "maybe", "method": "payment_card"})
    assert forged.status_code == 400 and 'id="core-error"' in text(forged)
    no_core = choose(client, child_id, {"personalisation"}, "payment_card")
    assert no_core.status_code == 400 and "Allow Core operation too" in text(no_core)
    no_method = choose(client, child_id, {"core"}, "")
    assert no_method.status_code == 400 and 'id="method-error"' in text(no_method)
    assert dump_tables(db) == before


# -- R11: a new notice version pauses what it extends ---------------------------------------------
def test_notice_version_that_extends_a_purpose_suspends_it(tmp_path: Path) -> None:
    v1 = fast_app(tmp_path, notice_version=1)
    client = v1.test_client()
    child_id = family_with_child(client, "notice@example.org")
    consent_by_card(client, child_id, {"core", "personalisation", "history"})
    v2 = fast_app(tmp_path, notice_version=2)
    client2 = v2.test_client()
    client2.set_cookie("session", client.get_cookie("session").value)  # type: ignore[union-attr]
    db = db_for(v2)
    assert active_purposes(db, child_id, 2) == {"core", "history"}
    page = text(client2.get(f"/parent/children/{child_id}/consent"))
    assert 'id="choice-personalisation" data-state="suspended"' in page
    assert "Paused because the notice changed" in page
    assert "what the child asked the toy for" in page.lower()
    assert 'data-state="on"' in page  # core and history carry on
    consent_by_card(client2, child_id, {"core", "personalisation", "history"})
    assert active_purposes(db, child_id, 2) == {"core", "personalisation", "history"}


# -- R12: revoking takes effect on the toy's next request -----------------------------------------
def test_revoke_on_the_page_refuses_the_toys_next_request(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = family_with_child(client, "revoke@example.org")
    consent_by_card(client, child_id, {"core", "personalisation"})
    parent_id = db.execute("SELECT id FROM parents").fetchone()[0]
    toy = make_family(db, purposes=())
    db.execute("UPDATE devices SET child_id = ? WHERE id = ?", [child_id, toy.device_id])
    toy = toy.__class__(parent_id, child_id, toy.device_id, toy.secret, toy.email)
    device_client = app.test_client()

    def share_name() -> int:
        body = intent_body(toy, "share_name", {"child_name": "ada"})
        return device_client.post("/api/v1/intent", data=body,
                                  headers=signed_intent_headers(toy, body)).status_code

    assert share_name() == 200
    # Without the confirmation step nothing is turned off: the parent is shown what goes.
    asked = submit(client, f"/parent/children/{child_id}/consent/personalisation/revoke")
    assert asked.status_code == 302 and asked.headers["Location"].endswith("/revoke")
    assert share_name() == 200
    response = submit(client, f"/parent/children/{child_id}/consent/personalisation/revoke",
                      {"confirmed": "1"})
    assert response.status_code == 302
    assert share_name() == 403


# -- the dashboard, export and deletion (R18, R22) ------------------------------------------------
def _child_with_data(app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> int:
    child_id = family_with_child(client, "data@example.org", first_name="Mia")
    consent_by_card(client, child_id, {"core", "personalisation", "history"})
    now = time.time()
    db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
               "collected_at, expires_at) VALUES (?, 'child.preference', 'favorite_animal', "
               "?, 'personalisation', ?, ?)",
               [child_id, seal_value(db, child_id, "profile_facts", "value", "capybara"), now,
                now + 90 * 86400])
    db.execute("INSERT INTO intent_events (child_id, device_id, intent, slots_json, "
               "received_at, expires_at) VALUES (?, 'toy-0123456789abcdef', 'tell_story', "
               "?, ?, ?)", [child_id, seal_value(db, child_id, "intent_events", "slots_json",
                                                '{"topic": "volcanoes"}'),
                            now, now + 30 * 86400])
    return child_id


def test_every_table_that_can_hold_child_data_is_reachable(db: sqlite_utils.Database) -> None:
    assert unreachable_tables(db) == []


def test_dashboard_shows_every_value_with_category_purpose_and_expiry(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = _child_with_data(app, client, db)
    page = text(client.get(f"/parent/children/{child_id}/data"))
    for value in ("Mia", "capybara", "volcanoes", "payment_card"):
        assert value in page
    row = re.search(r'<tr class="held-value" data-table="profile_facts" data-row="\d+" '
                    r'data-field="value" data-category="([^"]+)" data-purpose="([^"]+)" '
                    r'data-collected="([^"]+)" data-expires="([^"]+)"', page)
    assert row and row[1] == "child.preference" and row[2] == "personalisation"
    assert row[4] > row[3]
    records = inventory(db, child_id)
    shown = set(re.findall(r'data-table="(\w+)" data-row="([^"]+)" data-field="(\w+)"', page))
    for record in records:
        for value in record.shown_values:
            assert (record.table, record.row_id, value.field) in shown


def test_dashboard_says_what_teddy_knows_in_plain_words(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = _child_with_data(app, client, db)
    # A story topic remembered for personalisation, filed the way early versions filed it.
    now = time.time()
    db.execute("INSERT INTO profile_facts (child_id, category, key, value, purpose, "
               "collected_at, expires_at) VALUES (?, 'child.preference', 'story_topic', "
               "?, 'personalisation', ?, ?)",
               [child_id, seal_value(db, child_id, "profile_facts", "value", "comets"), now,
                now + 86400])
    page = text(client.get(f"/parent/children/{child_id}/data"))
    known = page[page.index('id="what-teddy-knows"'):page.index('id="timeline-h"')]
    topic = re.search(r'data-category="([\w.]+)">\s*<p class="fact"><span class="label">'
                      r'Story topics asked for:</span> <span class="value">comets', known)
    assert topic and topic[1] == "request.content"
    plain = re.sub(r"<[^>]+>", "", known)
    plain = re.sub(r"\s+", " ", plain)
    for statement in ("Name: Mia", "Favourite animal: capybara",
                      "Story topics asked for: volcanoes", "Country: United States"):
        assert statement in plain, plain
    # Grouped by purpose, each with the purpose's reason from the data map.
    dmap = data_map()
    for purpose in ("personalisation", "history"):
        group = re.search(rf'data-purpose-group="{purpose}">(.*?)</ul>', known, re.S)
        assert group and dmap.purposes[purpose].notice in html.unescape(group[1])
    # The right categories: a story topic is what was asked for, not a favourite thing.
    assert re.search(r'data-table="intent_events" data-category="request.content"', known)
    assert re.search(r'data-table="profile_facts" data-category="child.preference"', known)
    # One delete button per deletable fact, with its dates.
    assert known.count(">Delete</button>") == 3 and "until " in plain and "Since " in plain
    # Counts count records: one remembered thing, one request.
    counts = re.sub(r"<[^>]+>", "", page[page.index('id="record-counts"'):].split("</ul>")[0])
    assert "2 things remembered" in counts and "1 request in the history" in counts
    # The activity timeline in words; technical records behind a disclosure.
    assert re.search(r"Mia asked for a story \(volcanoes\)", page)
    tech = page[page.index('<details class="technical">'):]
    assert "seen_nonces" not in known and "audit_log" not in known
    assert 'data-tech-table="audit_log"' in tech and "child_name" not in known


def test_export_is_json_of_everything_and_is_audited(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database) -> None:
    child_id = _child_with_data(app, client, db)
    response = client.get(f"/parent/children/{child_id}/export.json")
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    document = response.get_json()
    values = {(r["table"], v["field"]): v for r in document["records"] for v in r["values"]}
    assert values[("profile_facts", "value")]["value"] == "capybara"
    assert values[("profile_facts", "value")]["category"] == "child.preference"
    assert values[("children", "first_name")]["value"] == "Mia"
    assert all(r["collected_at"] for r in document["records"] if r["table"] != "pairing_codes")
    assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'data.export'").fetchone()[0]


def test_delete_one_item_then_everything(app: Flask, client: FlaskClient,
                                         db: sqlite_utils.Database) -> None:
    child_id = _child_with_data(app, client, db)
    fact_id = db.execute("SELECT id FROM profile_facts").fetchone()[0]
    response = submit(client, f"/parent/children/{child_id}/data/profile_facts/{fact_id}/delete")
    assert response.status_code == 302
    assert db.execute("SELECT count(*) FROM profile_facts").fetchone()[0] == 0
    assert "capybara" not in text(client.get(f"/parent/children/{child_id}/data"))
    refused = submit(client, f"/parent/children/{child_id}/data/consents/1/delete")
    assert refused.status_code == 400
    not_confirmed = submit(client, f"/parent/children/{child_id}/delete", {"confirm": "no"})
    assert not_confirmed.status_code == 400 and db.execute(
        "SELECT count(*) FROM children").fetchone()[0] == 1
    receipt_page = text(submit(client, f"/parent/children/{child_id}/delete",
                               {"confirm": "DELETE"}))
    receipt = json.loads(re.search(r'<pre id="receipt-json">(.*?)</pre>', receipt_page,
                                   re.S)[1])  # type: ignore[index]
    assert receipt["receipt_id"].startswith("erasure-") and receipt["proof"]["clean"]
    assert "Mia" not in receipt_page and "volcanoes" not in receipt_page
    assert client.get(f"/parent/children/{child_id}/data").status_code == 404
    for table in ("children", "profile_facts", "intent_events", "consents"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_pairing_code_shown_on_the_page_pairs_a_toy(client: FlaskClient) -> None:
    child_id = family_with_child(client, "pair@example.org")
    page = text(submit(client, f"/parent/children/{child_id}/pair", follow_redirects=True))
    code = re.search(r'<output id="pairing-code"[^>]*>([A-Z0-9]{4}-[A-Z0-9]{4})</output>', page)
    assert code
    # Honest about what happens: the command for the simulated toy, what the toy receives.
    assert f"teddy device pair --cloud http://localhost --code {code[1]}" in page
    assert "nothing about" in page and "You have allowed nothing yet" in page
    # Reloading shows the same code rather than replacing it (GET renders a page).
    assert code[1] in text(client.get(f"/parent/children/{child_id}/pair"))
    paired = client.post("/api/v1/pair", json={"code": code[1]})
    assert paired.status_code == 201
    # The toy is named in words, never by its device id.
    child_page = text(client.get(f"/parent/children/{child_id}"))
    assert "1 paired toy." in child_page and "Toy 1" in child_page
    assert paired.json["device_id"] not in child_page


def test_responses_carry_protective_headers(client: FlaskClient) -> None:
    response = client.get("/parent/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    css = client.get("/parent/static/parent.css")
    assert css.status_code == 200 and b"--primary" in css.data


# -- one source of truth for the notice -------------------------------------------------------
def _visible(page: str) -> str:
    body = page[page.index("<main"):page.index("</main>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_notice_consent_and_dashboard_state_the_same_periods(tmp_path: Path) -> None:
    app = fast_app(tmp_path, inactive_profile_days=45, operator_name="Bear Labs Ltd",
                   operator_contact="privacy@bearlabs.example")
    client = app.test_client()
    db = db_for(app)
    child_id = family_with_child(client, "truth@example.org", first_name="Ivy")
    consent_by_card(client, child_id, {"core", "personalisation", "history"})
    dmap = data_map()
    notice = text(client.get("/parent/notice"))
    consent = text(client.get(f"/parent/children/{child_id}/consent"))
    child = text(client.get(f"/parent/children/{child_id}"))
    for purpose in dmap.consentable_purposes:
        kept = days_words(dmap.purposes[purpose].retention_days)
        card = re.search(rf'id="notice-{purpose}">(.*?)</section>', notice, re.S)
        assert card and f"<strong>Kept for:</strong> {kept}" in card[1], purpose
        choice = re.search(rf'id="choice-{purpose}"(.*?)</fieldset>', consent, re.S)
        assert choice and f"<dt>Kept for</dt><dd>{kept}</dd>" in choice[1], purpose
        row = re.search(rf'data-purpose="{purpose}"(.*?)</tr>', child, re.S)
        assert row and f'data-label="Kept for">{kept}</td>' in row[1], purpose
    # The child record: the notice gives the configured time without use; the dashboard's
    # "until" is exactly that long after the toy was last used.
    assert "until 45 days pass without the toy being used" in _visible(notice)
    last_active = db.execute("SELECT last_active_at FROM children").fetchone()[0]
    until = inventory(db, child_id, inactive_days=45)[0].expires_at
    assert until == last_active + 45 * 86400
    board = text(client.get(f"/parent/children/{child_id}/data"))
    # In the family's local time (the US spans zones, so UTC), in words.
    assert re.search(r"Country:</span> <span class=\"value\">United States</span></p>\s*"
                     rf'<p class="when muted small">Since [^·]+ · until '
                     rf"{local_time(until, 'US', with_time=False)}", board)
    # The operator and contact come from configuration.
    assert "Bear Labs Ltd runs this Teddy cloud" in _visible(notice)
    assert 'href="mailto:privacy@bearlabs.example"' in notice
    # Purpose wording never states a period the data map does not keep.
    assert disagreements(dmap) == []


def test_a_purpose_wording_that_drifts_from_the_data_map_is_caught() -> None:
    dmap = data_map()
    purpose = dmap.purposes["personalisation"]
    drifted = dataclasses.replace(dmap, purposes={
        **dmap.purposes, "personalisation": dataclasses.replace(purpose, retention_days=45)})
    problems = disagreements(drifted)
    assert len(problems) == 1 and problems[0].startswith("personalisation: the wording says [90]")
    assert stated_days("kept for one day, or 2 weeks, or 1 year") == {1, 14, 365}


def test_parent_pages_name_data_not_tables_and_show_no_rule_ids(client: FlaskClient) -> None:
    from cloud.parent_web.notice_facts import RECORD_NAMES

    assert set(RECORD_NAMES) == set(data_map().tables), "every table needs a parent's name"
    child_id = family_with_child(client, "words@example.org", first_name="Zoe")
    consent_by_card(client, child_id, {"core", "history"})
    internal = [t for t in data_map().tables if "_" in t]
    # Spelled with spaces too, except where the table's name is also plain English.
    internal += [t.replace("_", " ") for t in internal if t != "pairing_codes"]
    for path in ("/parent/notice", "/parent/", f"/parent/children/{child_id}",
                 f"/parent/children/{child_id}/consent", f"/parent/children/{child_id}/data",
                 f"/parent/children/{child_id}/consent-form", "/parent/account",
                 "/parent/outbox"):
        page = _visible(text(client.get(path)))
        assert not re.search(r"\bR\d{2}\b", page), path
        if path.endswith("/data"):
            page = page[:page.index("Technical details")]
        for name in internal:
            assert name not in page.lower(), (path, name)


@pytest.mark.slow("starts gunicorn under TLS: about 5 s")
def test_under_tls_the_real_server_sends_hsts_and_a_secure_cookie(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`teddy cloud serve --tls`, as a parent's browser meets it."""
    import requests

    from scenarios.processes import CloudServer

    server = CloudServer(tmp_path, tls=True, workers=1)
    server.start()
    try:
        page = requests.get(server.url + "/parent/signup", verify=str(server.ca_file),
                            timeout=10)
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        # The cookie holding the form token (and later the session) is never sent over HTTP.
        assert "; Secure" in page.headers["Set-Cookie"]
        token = CSRF_META.search(page.text)[1]  # type: ignore[index]
        sent = requests.post(server.url + "/parent/signup", cookies=page.cookies,
                             verify=str(server.ca_file), timeout=30,
                             data={"csrf_token": token, "email": "tls@example.org",
                                   "password": PASSWORD})
        assert sent.status_code == 200 and "Check your e-mail" in sent.text
        # The mail's link is to this server, on its own port and scheme (issue 27.6).
        from retention_helpers import cloud_cli

        assert cloud_cli(["mailbox", "--db", server.database, "--to", "tls@example.org"]) == 0
        assert f"  {server.url}/parent/signup/confirm/" in capsys.readouterr().out
        assert not server.url.endswith(":8080")
    finally:
        server.stop()


def test_the_mailbox_command_prints_a_signed_out_parents_link(
        app: Flask, client: FlaskClient, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    from retention_helpers import cloud_cli

    submit(client, "/parent/signup", {"email": "cli@example.org", "password": PASSWORD})
    db_path = app.config["TEDDY"].db_path
    assert cloud_cli(["mailbox", "--db", db_path, "--to", "CLI@example.org",
                      "--base-url", "http://127.0.0.1:9"]) == 0
    out = capsys.readouterr().out
    assert "Confirm your Teddy parent account" in out
    assert "http://127.0.0.1:9/parent/signup/confirm/" in out
    assert cloud_cli(["mailbox", "--db", db_path, "--to", "nobody@example.org"]) == 0
    assert "no messages for nobody@example.org" in capsys.readouterr().out
    assert cloud_cli(["mailbox", "--db", str(tmp_path / "missing.db"),
                      "--to", "x@example.org"]) == 2


# -- links in the mailbox start where the cloud was reached (issue 27.6) ------------------------
def _printed_confirm_link(app: Flask, email: str, capsys: pytest.CaptureFixture[str],
                          *extra: str) -> str:
    from retention_helpers import cloud_cli

    assert cloud_cli(["mailbox", "--db", app.config["TEDDY"].db_path, "--to", email,
                      *extra]) == 0
    found = re.search(r"^  (\S+/parent/signup/confirm/\S+)$", capsys.readouterr().out, re.M)
    assert found, "a confirmation link is printed"
    return found[1]


def _signs_up_at(app: Flask, email: str, base_url: str, **headers: str) -> None:
    client = app.test_client()
    page = client.get("/parent/signup", base_url=base_url, headers=headers)
    token = CSRF_META.search(page.get_data(as_text=True))[1]  # type: ignore[index]
    sent = client.post("/parent/signup", base_url=base_url, headers=headers,
                       data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert sent.status_code == 200, sent.get_data(as_text=True)


def test_mailbox_links_use_the_address_the_cloud_was_reached_at(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = fast_app(tmp_path)
    _signs_up_at(app, "port@example.org", "http://127.0.0.1:9123")
    assert _printed_confirm_link(app, "port@example.org", capsys).startswith(
        "http://127.0.0.1:9123/parent/signup/confirm/")
    # --base-url still wins, for a cloud moved since the message was sent.
    assert _printed_confirm_link(app, "port@example.org", capsys, "--base-url",
                                 "https://moved.example/").startswith(
        "https://moved.example/parent/signup/confirm/")


def test_behind_a_trusted_proxy_links_use_the_proxys_public_address(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "teddy.example.org",
                 "X-Forwarded-For": "203.0.113.9"}
    (tmp_path / "behind").mkdir()
    (tmp_path / "direct").mkdir()
    behind = fast_app(tmp_path / "behind", proxy_hops=1)
    _signs_up_at(behind, "proxied@example.org", "http://10.0.0.5:8000", **forwarded)
    assert _printed_confirm_link(behind, "proxied@example.org", capsys).startswith(
        "https://teddy.example.org/parent/signup/confirm/")
    # Negative control: a cloud that trusts no proxy ignores the headers a client sends.
    direct = fast_app(tmp_path / "direct")
    _signs_up_at(direct, "direct@example.org", "http://10.0.0.5:8000", **forwarded)
    assert _printed_confirm_link(direct, "direct@example.org", capsys).startswith(
        "http://10.0.0.5:8000/parent/signup/confirm/")


def test_a_configured_public_url_wins_over_a_forged_host(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = fast_app(tmp_path, public_url="https://teddy.example.org/")
    _signs_up_at(app, "forged@example.org", "http://evil.example")
    assert _printed_confirm_link(app, "forged@example.org", capsys).startswith(
        "https://teddy.example.org/parent/signup/confirm/")


def test_messages_from_before_origins_were_kept_fall_back_to_the_default_address(
        app: Flask, client: FlaskClient, db: sqlite_utils.Database,
        capsys: pytest.CaptureFixture[str]) -> None:
    submit(client, "/parent/signup", {"email": "old@example.org", "password": PASSWORD})
    db.execute("UPDATE parent_outbox SET origin = NULL")
    assert _printed_confirm_link(app, "old@example.org", capsys).startswith(
        "http://127.0.0.1:8080/parent/signup/confirm/")


@pytest.mark.parametrize("url", ["ftp://teddy.example.org", "teddy.example.org",
                                 "https://teddy.example.org/?x=1", "https://u:p@teddy.example"])
def test_a_public_url_that_is_not_an_origin_is_refused(url: str) -> None:
    from cloud.config import CloudConfig

    with pytest.raises(ValueError, match="expected an address like"):
        CloudConfig(public_url=url)
