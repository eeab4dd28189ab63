"""Guards for every parent page: CSRF tokens, sign-in, upload limits and response headers."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from cloud.db import get_clock, get_db
from cloud.parent_web import bp
from cloud.parent_web.notice_facts import days_words
from cloud.parent_web.sessions import close_session, open_session, session_parent
from cloud.parent_web.words import counted, local_time
from cloud.upload_limits import MAX_UPLOAD_BODY_BYTES

CSRF_FIELD = "csrf_token"
SESSION_FIELD = "sid"
HSTS = "max-age=31536000"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Uploaded files are held in memory only (`uploads.CappedSpool`, set as the app's request
# class), never in Werkzeug's temporary file, so an ID photo never touches the disk.
UPLOAD_ENDPOINTS = frozenset({"parent_web.verify"})
# Where a too-large upload is sent back to: the same form, with the error said on it.
TOO_LARGE_FLAG = "too_large"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

View = TypeVar("View", bound=Callable[..., Any])


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def _timeouts() -> tuple[float, float]:
    config = current_app.config["TEDDY"]
    return config.session_idle_minutes * 60.0, config.session_max_hours * 3600.0


def start_session(parent_id: int) -> None:
    """A fresh session on every sign-in: nothing from before it carries over."""
    end_session()
    session[SESSION_FIELD] = open_session(get_db(), parent_id, get_clock().time(),
                                          _timeouts()[1])
    session[CSRF_FIELD] = secrets.token_urlsafe(32)
    g.pop("parent", None)


def session_token() -> str | None:
    token = session.get(SESSION_FIELD)
    return token if isinstance(token, str) else None


def end_session() -> None:
    """Sign out this browser: the server forgets the session, then the cookie is cleared."""
    token = session_token()
    if token:
        close_session(get_db(), token)
    session.clear()
    g.pop("parent", None)


def current_parent() -> dict[str, Any] | None:
    if "parent" not in g:
        token = session_token()
        row = None
        if token:
            found = session_parent(get_db(), token, get_clock().time(), _timeouts()[0])
            if found is not None:
                row = get_db().execute("SELECT id, email FROM parents WHERE id = ?",
                                       [found]).fetchone()
            else:
                session.pop(SESSION_FIELD, None)
        g.parent = {"id": row[0], "email": row[1]} if row else None
    return g.parent


def parent_id() -> int:
    parent = current_parent()
    if parent is None:
        abort(401)
    return int(parent["id"])


def login_required(view: View) -> View:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_parent() is None:
            return redirect(url_for("parent_web.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def safe_next(target: str | None) -> str:
    """Only a path inside the parent web: never an open redirect to another site."""
    if (target and target.startswith("/parent/") and "//" not in target and "\\" not in target
            and target.isprintable()):  # CR/LF or other controls: no header injection
        return target
    return url_for("parent_web.home")


@bp.before_request
def _guard() -> Any:
    if request.endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        if request.content_length is None:
            abort(411, description="Uploads must declare their length.")
        request.max_content_length = MAX_UPLOAD_BODY_BYTES
    if request.method in SAFE_METHODS:
        return None
    sent = request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="This form has expired or did not come from Teddy's pages. "
                               "Go back, reload the page and try again.")
    return None


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "parent": current_parent(), "days_words": days_words,
            "local_time": local_time, "counted": counted}


@bp.after_request
def _headers(response: Response) -> Response:
    # A page that carries its own style (a self-contained download) sets a stricter policy
    # naming that style's hash; every other page gets the site's policy.
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Links carry one-time tokens (e-mail plus): never leak them in a Referer header.
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "parent_web.static":
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        # Sent over HTTPS only, as RFC 6797 requires; tells browsers never to try plain HTTP.
        response.headers["Strict-Transport-Security"] = HSTS
    return response


ERROR_TITLES = {400: "That did not work", 401: "Please sign in", 403: "Not allowed",
                404: "Not found", 405: "Not allowed", 411: "Upload refused",
                413: "Too large", 429: "Too many attempts"}


def _render_error(exc: Any) -> Any:
    code = int(getattr(exc, "code", 500) or 500)
    description = getattr(exc, "description", "") or ""
    if code == 404:
        description = "There is nothing here, or it belongs to another family."
    if code == 413 and request.endpoint in UPLOAD_ENDPOINTS and request.view_args:
        # Back to the same form (its choices are kept in the session), never a dead end.
        return redirect(url_for(request.endpoint, **request.view_args,
                                **{TOO_LARGE_FLAG: "1"}), 303)
    if code == 413:
        description = (f"Uploads can be at most {MAX_UPLOAD_BODY_BYTES // (1024 * 1024)} MB "
                       "in all.")
    return render_template("parent/error.html", title=ERROR_TITLES.get(code, "Error"),
                           message=description, code=code), code


for _code in ERROR_TITLES:
    bp.register_error_handler(_code, _render_error)
