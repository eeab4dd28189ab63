"""Sign-up, sign-in (rate-limited) and sign-out."""

from __future__ import annotations

import re
import sqlite3

from flask import Response, current_app, redirect, render_template, request, session, url_for

from cloud import audit
from cloud.app import get_clock, get_db
from cloud.parent_web import bp, rate_limit
from cloud.parent_web.passwords import hash_password, password_problem, verify_password
from cloud.parent_web.security import login_required, safe_next, start_session

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
MAX_EMAIL_CHARS = 254
Page = str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]


def normalise_email(raw: str) -> str | None:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_CHARS or not EMAIL.fullmatch(email):
        return None
    return email


@bp.get("/signup")
def signup_form() -> Page:
    return render_template("parent/signup.html")


@bp.post("/signup")
def signup() -> Page:
    email = normalise_email(request.form.get("email", ""))
    password = request.form.get("password", "")

    def refuse(message: str) -> tuple[str, int]:
        return render_template("parent/signup.html", error=message,
                               email=request.form.get("email", "")[:MAX_EMAIL_CHARS]), 400

    if email is None:
        return refuse("Enter a valid e-mail address, like name@example.com.")
    problem = password_problem(password)
    if problem:
        return refuse(problem)
    db = get_db()
    now = get_clock().time()
    try:
        cursor = db.execute(
            "INSERT INTO parents (email, password_hash, created_at) VALUES (?, ?, ?)",
            [email, hash_password(password), now],
        )
    except sqlite3.IntegrityError:
        return refuse("An account with this e-mail address already exists. Sign in instead.")
    parent_id = int(cursor.lastrowid or 0)
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id),
                 action="parent.signup", subject=audit.subject_ref("parent", parent_id))
    start_session(parent_id)
    return redirect(url_for("parent_web.home"))


@bp.get("/login")
def login() -> Page:
    return render_template("parent/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> Page:
    raw_email = request.form.get("email", "")[:MAX_EMAIL_CHARS]
    password = request.form.get("password", "")[:1024]
    next_path = request.form.get("next", "")
    db = get_db()
    now = get_clock().time()
    secret = current_app.config["SECRET_KEY"]
    email_key = rate_limit.attempt_key(secret, "email", raw_email)
    keys = [email_key, rate_limit.attempt_key(secret, "ip", request.remote_addr or "unknown")]
    limit = current_app.config["TEDDY"].login_attempts_per_15_min
    wait = rate_limit.retry_after_s(db, keys, now, limit)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        message = (f"Too many sign-in attempts. For your family's safety, please wait about "
                   f"{minutes} minute{'s' if minutes != 1 else ''} and try again.")
        return (render_template("parent/login.html", error=message, email=raw_email,
                                next=next_path), 429, {"Retry-After": str(int(wait) + 1)})
    email = normalise_email(raw_email)
    row = (db.execute("SELECT id, password_hash FROM parents WHERE email = ?",
                      [email]).fetchone() if email else None)
    if not verify_password(row[1] if row else None, password):
        rate_limit.record_failure(db, keys, now)
        return render_template("parent/login.html", email=raw_email, next=next_path,
                               error="That e-mail address and password do not match."), 401
    rate_limit.forget(db, email_key)
    start_session(int(row[0]))
    return redirect(safe_next(next_path))


@bp.post("/logout")
@login_required
def logout() -> Page:
    session.clear()
    return redirect(url_for("parent_web.login"))
