"""Sign-up (confirmed through the mailbox), sign-in (throttled), sign-out, and password reset.

No answer here tells a visitor whether an e-mail address has an account: sign-up and "forgot
password" give the same page whatever the address, and the mailbox is told what happened.
"""

from __future__ import annotations

import re

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from cloud import audit
from cloud.db import get_clock, get_db
from cloud.parent_web import account_tokens, bp, outbox, rate_limit
from cloud.parent_web.passwords import hash_password, password_problem, verify_password
from cloud.parent_web.security import end_session, safe_next, start_session
from cloud.parent_web.sessions import close_all_sessions

EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+")
MAX_EMAIL_CHARS = 254
# Per address (any account) the limit is this many times the per-(account, address) one, so a
# family sharing one address can still mistype, while one address cannot try many accounts.
ADDRESS_LIMIT_FACTOR = 4
Page = str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]


def normalise_email(raw: str) -> str | None:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_CHARS or not EMAIL.fullmatch(email):
        return None
    return email


def _config():  # type: ignore[no-untyped-def]
    return current_app.config["TEDDY"]


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _key(kind: str, value: str) -> str:
    return rate_limit.attempt_key(current_app.config["SECRET_KEY"], kind, value)


def _reserve(keys_and_limits: list[tuple[str, int]], now: float) -> float | None:
    """Count this attempt now if under every limit (None), else the seconds to wait."""
    return rate_limit.reserve(get_db(), keys_and_limits, now)


def _wait_words(wait: float) -> str:
    minutes = max(1, round(wait / 60))
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"


def _link(endpoint: str, **values: str) -> str:
    return url_for(endpoint, _external=False, **values)


@bp.before_request
def _refuse_nul_characters() -> None:
    """A NUL byte cannot be stored (PostgreSQL refuses it in text) nor typed by a parent: any
    field or query value holding one is refused with a clear 400 before anything is looked up
    (uploaded files are bytes and are not fields)."""
    fields = list(request.args.items(multi=True))
    if request.mimetype == "application/x-www-form-urlencoded":
        fields += request.form.items(multi=True)
    if any("\x00" in name or "\x00" in value for name, value in fields):
        abort(400, description="The form held a character that cannot be used (a NUL byte). "
                               "Remove it and try again.")


# -- sign-up ---------------------------------------------------------------------------------
@bp.get("/signup")
def signup_form() -> Page:
    return render_template("parent/signup.html", errors={})


@bp.post("/signup")
def signup() -> Page:
    raw_email = request.form.get("email", "")[:MAX_EMAIL_CHARS]
    email = normalise_email(raw_email)
    password = request.form.get("password", "")

    def refuse(errors: dict[str, str], status: int = 400,
               headers: dict[str, str] | None = None) -> Page:
        return (render_template("parent/signup.html", errors=errors, email=raw_email), status,
                headers or {})

    errors = {}
    if email is None:
        errors["email"] = "Enter a valid e-mail address, like name@example.com."
    problem = password_problem(password, email)
    if problem:
        errors["password"] = problem
    if errors:
        return refuse(errors)
    db, now = get_db(), get_clock().time()
    address_key = _key("signup-address", _client_address())
    wait = _reserve([(address_key, _config().login_attempts_per_15_min)], now)
    if wait is not None:
        return refuse({"form": f"Too many sign-ups from here. Please wait {_wait_words(wait)} "
                               "and try again."}, 429, {"Retry-After": str(int(wait) + 1)})
    # Always hash, so an existing address does not answer faster.
    password_hash = hash_password(password)
    # Sign-ups nobody confirmed in time give their address back.
    db.execute("DELETE FROM parents WHERE pending_until IS NOT NULL AND pending_until <= ?",
               [now])
    row = db.execute("SELECT id, pending_until FROM parents WHERE email = ?",
                     [email]).fetchone()
    lifetime = account_tokens.LIFETIME_S[account_tokens.CONFIRM_SIGNUP]
    if row is not None and row[1] is None:
        outbox.email_parent(
            db, parent_id=int(row[0]), recipient=email,
            subject="Someone tried to create a Teddy account with your address",
            body="You already have a Teddy parent account with this address, so no new "
                 "account was made. If this was you, sign in. If you forgot your "
                 "password, use this link to choose a new one. If it was not you, "
                 "you need not do anything.",
            link=_link("parent_web.forgot_form"), now=now)
    elif row is None:
        parent = int(db.execute(
            "INSERT INTO parents (email, password_hash, created_at, pending_until) "
            "VALUES (?, ?, ?, ?) RETURNING id",
            [email, password_hash, now, now + lifetime]).fetchone()[0])
        token = account_tokens.issue(db, parent, account_tokens.CONFIRM_SIGNUP, now)
        outbox.email_parent(
            db, parent_id=parent, recipient=email,
            subject="Confirm your Teddy parent account",
            body="Open this link within 24 hours to confirm your address and finish "
                 "creating your account; you will be asked for the password you chose. "
                 "If you did not sign up, ignore this e-mail and the account is never "
                 "created.",
            link=_link("parent_web.confirm_signup_form", token=token), now=now)
    else:
        # A sign-up is already waiting. Its password is never replaced: whoever started it
        # would otherwise hand the account to whoever signed up second (a pre-hijack).
        parent = int(row[0])
        token = account_tokens.issue(db, parent, account_tokens.CONFIRM_SIGNUP, now)
        outbox.email_parent(
            db, parent_id=parent, recipient=email,
            subject="Your Teddy sign-up is still waiting for you",
            body="Someone (perhaps you) asked again to create a Teddy account with this "
                 "address. A sign-up was already waiting, so its password was kept. Open "
                 "this link and enter the password chosen the first time. If you do not "
                 "know it, or did not start that sign-up, choose \"Forgot your password?\" "
                 "on that page: a new password set from this mailbox also confirms the "
                 "account.",
            link=_link("parent_web.confirm_signup_form", token=token), now=now)
    return render_template("parent/mail_sent.html", email=email, reason="signup")


@bp.get("/signup/confirm/<token>")
def confirm_signup_form(token: str) -> Page:
    if account_tokens.peek(get_db(), token, account_tokens.CONFIRM_SIGNUP,
                           get_clock().time()) is None:
        return _dead_link()
    return render_template("parent/confirm_signup.html", token=token)


@bp.post("/signup/confirm/<token>")
def confirm_signup(token: str) -> Page:
    db, now = get_db(), get_clock().time()
    parent = account_tokens.peek(db, token, account_tokens.CONFIRM_SIGNUP, now)
    if parent is None:
        return _dead_link()
    # The mailbox alone does not confirm: the password chosen at sign-up must be given too, so
    # a link opened by someone else (or a sign-up someone else started) gives no account.
    pair_key = _key("confirm+address", f"{parent}|{_client_address()}")
    wait = _reserve([(pair_key, _config().login_attempts_per_15_min)], now)
    if wait is not None:
        return (render_template("parent/confirm_signup.html", token=token, error=(
            f"Too many wrong passwords from here. Please wait {_wait_words(wait)} and try "
            "again, or choose a new password with \"Forgot your password?\".")), 429,
            {"Retry-After": str(int(wait) + 1)})
    stored = db.execute("SELECT password_hash FROM parents WHERE id = ?", [parent]).fetchone()
    if stored is None or not verify_password(stored[0], request.form.get("password", "")[:1024]):
        return render_template("parent/confirm_signup.html", token=token, error=(
            "That is not the password this sign-up was started with. If you do not know it, "
            "or did not start this sign-up, choose \"Forgot your password?\": a new "
            "password set from your mailbox also confirms the account.")), 401
    rate_limit.forget(db, pair_key)
    if account_tokens.redeem(db, token, account_tokens.CONFIRM_SIGNUP, now) != parent:
        return _dead_link()
    db.execute("UPDATE parents SET pending_until = NULL WHERE id = ?", [parent])
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent),
                 action="parent.signup", subject=audit.subject_ref("parent", parent))
    start_session(parent)
    flash("Your account is ready.")
    return redirect(url_for("parent_web.home"))


def _dead_link() -> tuple[str, int]:
    return render_template(
        "parent/error.html", title="This link no longer works",
        message="It was already used, or it expired. Links from Teddy's e-mails work once and "
                "for a limited time. Ask for a new one from the page you started on.",
        code=410), 410


# -- sign-in and sign-out --------------------------------------------------------------------
@bp.get("/login")
def login() -> Page:
    return render_template("parent/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> Page:
    raw_email = request.form.get("email", "")[:MAX_EMAIL_CHARS]
    password = request.form.get("password", "")[:1024]
    next_path = request.form.get("next", "")
    db, now = get_db(), get_clock().time()
    email = normalise_email(raw_email)
    limit = _config().login_attempts_per_15_min
    # Throttled per (account, address) and per address, never per account alone: someone
    # guessing from elsewhere cannot lock the parent out of their own phone or home network.
    pair_key = _key("account+address", f"{email or raw_email}|{_client_address()}")
    address_key = _key("address", _client_address())
    # Counted before the password is checked, atomically across app servers (rate_limit).
    wait = _reserve([(pair_key, limit), (address_key, limit * ADDRESS_LIMIT_FACTOR)], now)
    if wait is not None:
        message = (f"Too many sign-in attempts from here. For your family's safety, please wait "
                   f"{_wait_words(wait)} and try again, or reset your password.")
        return (render_template("parent/login.html", error=message, email=raw_email,
                                next=next_path), 429, {"Retry-After": str(int(wait) + 1)})
    row = (db.execute("SELECT id, password_hash, pending_until FROM parents WHERE email = ?",
                      [email]).fetchone() if email else None)
    matches = verify_password(row[1] if row else None, password)
    if not (matches and row is not None and row[2] is None):
        return render_template("parent/login.html", email=raw_email, next=next_path,
                               error="That e-mail address and password do not match."), 401
    rate_limit.forget(db, pair_key)
    rate_limit.give_back(db, address_key, now)
    start_session(int(row[0]))
    return redirect(safe_next(next_path))


@bp.get("/logout")
def logout_page() -> Page:
    return render_template("parent/logout.html")


@bp.post("/logout")
def logout() -> Page:
    end_session()
    flash("You are signed out.")
    return redirect(url_for("parent_web.login"))


# -- forgotten password ----------------------------------------------------------------------
@bp.get("/forgot")
def forgot_form() -> Page:
    return render_template("parent/forgot.html", errors={})


@bp.post("/forgot")
def forgot() -> Page:
    raw_email = request.form.get("email", "")[:MAX_EMAIL_CHARS]
    email = normalise_email(raw_email)
    if email is None:
        return render_template("parent/forgot.html", email=raw_email, errors={
            "email": "Enter a valid e-mail address, like name@example.com."}), 400
    db, now = get_db(), get_clock().time()
    address_key = _key("reset-address", _client_address())
    wait = _reserve([(address_key, _config().login_attempts_per_15_min)], now)
    if wait is not None:
        return (render_template("parent/forgot.html", email=raw_email, errors={
            "form": f"Too many requests from here. Please wait {_wait_words(wait)}."}), 429,
            {"Retry-After": str(int(wait) + 1)})
    row = db.execute("SELECT id FROM parents WHERE email = ?", [email]).fetchone()
    if row is not None:
        token = account_tokens.issue(db, int(row[0]), account_tokens.RESET_PASSWORD, now)
        outbox.email_parent(
            db, parent_id=int(row[0]), recipient=email, subject="Choose a new Teddy password",
            body="Open this link within one hour to choose a new password. It works "
                 "once. If you did not ask for it, ignore this e-mail: your password "
                 "stays as it is.",
            link=_link("parent_web.reset_form", token=token), now=now)
    return render_template("parent/mail_sent.html", email=email, reason="reset")


@bp.get("/reset/<token>")
def reset_form(token: str) -> Page:
    if account_tokens.peek(get_db(), token, account_tokens.RESET_PASSWORD,
                           get_clock().time()) is None:
        return _dead_link()
    return render_template("parent/reset.html", token=token, errors={})


@bp.post("/reset/<token>")
def reset(token: str) -> Page:
    db, now = get_db(), get_clock().time()
    parent = account_tokens.peek(db, token, account_tokens.RESET_PASSWORD, now)
    if parent is None:
        return _dead_link()
    password = request.form.get("password", "")
    email = db.execute("SELECT email FROM parents WHERE id = ?", [parent]).fetchone()[0]
    problem = password_problem(password, email)
    if problem:
        return render_template("parent/reset.html", token=token,
                               errors={"password": problem}), 400
    if account_tokens.redeem(db, token, account_tokens.RESET_PASSWORD, now) != parent:
        return _dead_link()
    # Following the link proved the mailbox, which also confirms a pending sign-up.
    db.execute("UPDATE parents SET password_hash = ?, pending_until = NULL WHERE id = ?",
               [hash_password(password), parent])
    close_all_sessions(db, parent)
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent),
                 action="parent.password_reset", subject=audit.subject_ref("parent", parent))
    outbox.email_parent(
        db, parent_id=parent, recipient=email,
        subject="Your Teddy password was changed",
        body="Your password was reset with a link from this mailbox, and every device "
             "was signed out. If this was not you, reset it again now.", now=now)
    end_session()
    flash("Password changed. Sign in with your new password.")
    return redirect(url_for("parent_web.login"))
