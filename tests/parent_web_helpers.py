"""Driving the parent pages through Flask's test client, the way a browser submits forms."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from cloud_helpers import make_app
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cloud.parent_web.outbox import messages_to
from cloud.storage.db import open_db

PASSWORD = "correct horse battery staple"
# Real Argon2id with small costs, so tests that sign up many parents stay quick.
FAST_HASH = {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def fast_app(tmp_path: Path, **overrides: Any) -> Flask:
    """The cloud app with Argon2id at small costs, for tests that sign parents up."""
    app = make_app(tmp_path, **overrides)
    app.config["PASSWORD_HASH_PARAMS"] = FAST_HASH
    return app


def visible_text(page: str) -> str:
    """A page's text as a reader sees it: tags gone, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def csrf(client: FlaskClient) -> str:
    page = client.get("/parent/notice").get_data(as_text=True)
    match = CSRF_META.search(page)
    assert match, "every page carries its CSRF token"
    return match[1]


def submit(client: FlaskClient, path: str, data: dict[str, Any] | None = None,
           **kwargs: Any) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kwargs)


def mail_link(client: FlaskClient, email: str, starts_with: str) -> str:
    """The newest link sent to `email` that starts with `starts_with`, read as the parent's
    own mail program would (outside the parent pages)."""
    app = client.application
    db = open_db(app.config["TEDDY"].db_path)
    now = app.extensions["teddy.clock"].time()
    links = [m.link for m in messages_to(db, email, now) if m.link]
    found = [link for link in links if link.startswith(starts_with)]
    assert found, f"no {starts_with} link in the mailbox of {email}: {links}"
    return found[0]


def signup(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    """Sign up and confirm through the mailbox; the parent is signed in afterwards."""
    sent = submit(client, "/parent/signup", {"email": email, "password": password})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    link = mail_link(client, email.strip().lower(), "/parent/signup/confirm/")
    response = submit(client, link, {"password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def add_child(client: FlaskClient, first_name: str = "", age_band: str = "6-8",
              country: str = "US") -> int:
    response = submit(client, "/parent/children/new",
                      {"first_name": first_name, "age_band": age_band, "country": country})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def choose(client: FlaskClient, child_id: int, allow: set[str], method: str,
           offered: tuple[str, ...] = ("core", "personalisation", "history", "third_party")
           ) -> TestResponse:
    choices = {f"choice_{p}": "yes" if p in allow else "no" for p in offered}
    return submit(client, f"/parent/children/{child_id}/consent", {**choices, "method": method})


def consent_by_card(client: FlaskClient, child_id: int, allow: set[str],
                    number: str = "4242 4242 4242 4242") -> TestResponse:
    step = choose(client, child_id, allow, "payment_card")
    assert step.status_code == 302 and step.headers["Location"].endswith("/verify")
    return submit(client, f"/parent/children/{child_id}/verify",
                  {"card_number": number, "expiry": "12/34", "cvc": "123"})
