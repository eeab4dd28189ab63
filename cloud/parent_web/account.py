"""The parent's own account: change the password, sign out everywhere, close the account."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for

from cloud import audit
from cloud.db import get_clock, get_db
from cloud.parent_web import bp, outbox
from cloud.parent_web.auth import Page
from cloud.parent_web.dashboard import CONFIRM_WORD
from cloud.parent_web.family import children_of
from cloud.parent_web.passwords import hash_password, password_problem, verify_password
from cloud.parent_web.security import end_session, login_required, parent_id, session_token
from cloud.parent_web.sessions import close_all_sessions, live_sessions
from cloud.retention.erasure import erase_child


def _account_page(errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    db, me = get_db(), parent_id()
    config = current_app.config["TEDDY"]
    return render_template("parent/account.html", errors=errors or {},
                           idle_minutes=config.session_idle_minutes,
                           max_hours=config.session_max_hours,
                           sessions=live_sessions(db, me, get_clock().time()),
                           children=children_of(db, me), confirm_word=CONFIRM_WORD), status


def _stored_hash(me: int) -> str:
    return str(get_db().execute("SELECT password_hash FROM parents WHERE id = ?",
                                [me]).fetchone()[0])


def _email(me: int) -> str:
    return str(get_db().execute("SELECT email FROM parents WHERE id = ?", [me]).fetchone()[0])


@bp.get("/account")
@login_required
def account() -> Page:
    return _account_page()


@bp.get("/account/password")
@bp.get("/account/sign-out-everywhere")
@login_required
def account_actions_page() -> Page:
    # Landing here by reloading or a bookmark shows the page the forms live on.
    return redirect(url_for("parent_web.account"))


@bp.post("/account/password")
@login_required
def change_password() -> Page:
    me, db, now = parent_id(), get_db(), get_clock().time()
    current = request.form.get("current_password", "")[:1024]
    new = request.form.get("new_password", "")
    if not verify_password(_stored_hash(me), current):
        return _account_page({"current_password": "That is not your current password."}, 400)
    problem = password_problem(new, _email(me))
    if problem:
        return _account_page({"new_password": problem}, 400)
    db.execute("UPDATE parents SET password_hash = ? WHERE id = ?", [hash_password(new), me])
    ended = close_all_sessions(db, me, keep_token=session_token())
    audit.append(db, at=now, actor=audit.subject_ref("parent", me),
                 action="parent.password_change", subject=audit.subject_ref("parent", me),
                 details={"count": ended})
    outbox.email_parent(
        db, parent_id=me, recipient=_email(me),
        subject="Your Teddy password was changed",
        body="Your password was changed while signed in, and your other devices were "
             "signed out. If this was not you, reset your password now.", now=now)
    flash("Password changed. Your other devices are signed out.")
    return redirect(url_for("parent_web.account"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Page:
    me = parent_id()
    close_all_sessions(get_db(), me)
    end_session()
    flash("You are signed out on every device.")
    return redirect(url_for("parent_web.login"))


@bp.get("/account/close")
@login_required
def close_account_form() -> Page:
    return redirect(url_for("parent_web.account", _anchor="close"))


@bp.post("/account/close")
@login_required
def close_account() -> Page:
    me, db = parent_id(), get_db()
    if request.form.get("confirm", "").strip().upper() != CONFIRM_WORD:
        return _account_page({"confirm": f"Type {CONFIRM_WORD} to confirm. Nothing was "
                                         "deleted."}, 400)
    if not verify_password(_stored_hash(me), request.form.get("password", "")[:1024]):
        return _account_page({"password": "That is not your password. Nothing was deleted."},
                             400)
    config = current_app.config["TEDDY"]
    receipts: list[dict[str, Any]] = []
    # Each child goes exactly as with "Delete everything", receipt and proof included. If one
    # fails, the account stays so the parent can try again; the children already gone stay gone.
    for kid in children_of(db, me):
        receipts.append(erase_child(db, child_id=kid.id, parent_id=me,
                                    now=get_clock().time(), db_path=config.db_path).to_dict())
    now = get_clock().time()
    audit.append(db, at=now, actor=audit.subject_ref("parent", me), action="parent.close",
                 subject=audit.subject_ref("parent", me), details={"count": len(receipts)})
    # Sessions, messages, tokens and consent records go with the account (ON DELETE CASCADE).
    db.execute("DELETE FROM parents WHERE id = ?", [me])
    end_session()
    return render_template("parent/closed.html", receipts=receipts)
