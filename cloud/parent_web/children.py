"""The family home page, adding a child (R13), a child's overview and pairing a toy."""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlite_utils
from flask import current_app, flash, redirect, render_template, request, url_for

from cloud import audit, pairing
from cloud.db import get_clock, get_db
from cloud.keys.fields import seal_value
from cloud.parent_web import bp
from cloud.parent_web.auth import Page
from cloud.parent_web.consent_state import purpose_statuses
from cloud.parent_web.family import (
    AGE_BANDS,
    children_of,
    country_choices,
    known_country,
    owned_child,
)
from cloud.parent_web.security import login_required, parent_id
from cloud.parent_web.words import Toy

# Letters (any script), spaces, hyphens and apostrophes: a first name, never a sentence.
FIRST_NAME = re.compile(r"[^\W\d_]([^\W\d_]|[ '\-]){0,39}")
# A nickname or initials: letters, digits, spaces, dots, hyphens, apostrophes; short.
LABEL = re.compile(r"[^\W_]([^\W_]|[ .'\-]){0,19}")
LABEL_PROBLEM = ("A nickname or initials may use letters, digits, spaces, dots, hyphens and "
                 "apostrophes, up to 20 characters. You can also leave it empty.")


def _notice_version() -> int:
    return int(current_app.config["TEDDY"].notice_version)


@bp.get("/")
@login_required
def home() -> Page:
    db = get_db()
    family = [(child, purpose_statuses(db, child.id, _notice_version()))
              for child in children_of(db, parent_id())]
    return render_template("parent/home.html", family=family)


@bp.get("/children/new")
@login_required
def new_child() -> Page:
    return _child_form({})


def _child_form(form: Mapping[str, str], errors: list[str] | None = None) -> str:
    return render_template("parent/child_new.html", age_bands=AGE_BANDS,
                           countries=country_choices(), form=form, errors=errors,
                           default_age=current_app.config["TEDDY"].default_consent_age)


@bp.post("/children/new")
@login_required
def add_child() -> Page:
    first_name = request.form.get("first_name", "").strip()
    age_band = request.form.get("age_band", "")
    country = request.form.get("country", "")
    label = request.form.get("label", "").strip()
    problems = []
    if first_name and not FIRST_NAME.fullmatch(first_name):
        problems.append("A first name may use letters, spaces, hyphens and apostrophes, "
                        "up to 40 characters. You can also leave it empty.")
    if label and not LABEL.fullmatch(label):
        problems.append(LABEL_PROBLEM)
    if age_band not in AGE_BANDS:
        problems.append("Choose your child's age band.")
    if not known_country(country):
        problems.append("Choose the country you live in.")
    if problems:
        return _child_form(request.form, problems), 400
    db = get_db()
    now = get_clock().time()
    cursor = db.execute(
        "INSERT INTO children (parent_id, first_name, age_band, country, created_at, "
        "last_active_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        [parent_id(), None, age_band, country, now, now],
    )
    child_id = int(cursor.fetchone()[0])
    # Both are sealed with the child's own key, which needs the child's id first.
    for column, value in (("first_name", first_name), ("label", label)):
        if value:
            db.execute(f"UPDATE children SET {column} = ? WHERE id = ?",
                       [seal_value(db, child_id, "children", column, value, now), child_id])
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id()),
                 action="child.add", subject=audit.subject_ref("child", child_id))
    flash("Child added. Nothing about them leaves the toy until you choose what to allow.")
    return redirect(url_for("parent_web.child", child_id=child_id))


@bp.get("/children/<int:child_id>")
@login_required
def child(child_id: int) -> Page:
    kid = owned_child(child_id)
    db = get_db()
    return render_template("parent/child.html", child=kid, devices=_devices(db, kid.id),
                           statuses=purpose_statuses(db, child_id, _notice_version()),
                           notice_version=_notice_version())


def _devices(db: sqlite_utils.Database, child_id: int) -> list[Toy]:
    rows = db.execute("SELECT id, paired_at, last_seen_at FROM devices WHERE child_id = ? "
                      "ORDER BY paired_at", [child_id]).fetchall()
    return [Toy(f"Toy {n}", *row) for n, row in enumerate(rows, start=1)]


@bp.get("/children/<int:child_id>/label")
@login_required
def label_page(child_id: int) -> Page:
    # The label's form is on the child's page.
    return redirect(url_for("parent_web.child", child_id=owned_child(child_id).id))


@bp.post("/children/<int:child_id>/label")
@login_required
def set_label(child_id: int) -> Page:
    kid = owned_child(child_id)
    label = request.form.get("label", "").strip()
    if label and not LABEL.fullmatch(label):
        db = get_db()
        devices = _devices(db, kid.id)
        return render_template("parent/child.html", child=kid, devices=devices,
                               statuses=purpose_statuses(db, kid.id, _notice_version()),
                               notice_version=_notice_version(), label_error=LABEL_PROBLEM,
                               label_value=label), 400
    db, now = get_db(), get_clock().time()
    db.execute("UPDATE children SET label = ? WHERE id = ?",
               [seal_value(db, kid.id, "children", "label", label, now) if label else None,
                kid.id])
    flash(f"Your label for this child is now {label}." if label else "Label removed.")
    return redirect(url_for("parent_web.child", child_id=kid.id))


@bp.post("/children/<int:child_id>/pair")
@login_required
def pair(child_id: int) -> Page:
    kid = owned_child(child_id)
    try:
        pairing.issue_code(get_db(), kid.id, get_clock().time())
    except pairing.PairingCodesExhausted as error:
        flash(f"No new code yet: {error}.")
    # Post, then redirect: reloading the code's page shows the same code instead of
    # re-sending the form and silently replacing the code the parent is typing in.
    return redirect(url_for("parent_web.pair_page", child_id=kid.id))


@bp.get("/children/<int:child_id>/pair")
@login_required
def pair_page(child_id: int) -> Page:
    kid = owned_child(child_id)
    db, now = get_db(), get_clock().time()
    pending = pairing.pending_code_of_child(db, kid.id, now)
    # Wrong tries at this code from anywhere: the parent sees someone guessing, and a
    # withdrawn code is shown as such with the button to make a new one.
    wrong = pending.wrong_tries(db, current_app.config["TEDDY"].secret_key.encode("utf-8")) \
        if pending else 0
    statuses = purpose_statuses(db, kid.id, _notice_version())
    allowed = [s.purpose.title for s in statuses if s.state == "on"]
    return render_template("parent/pair.html", child=kid,
                           code=pending.code if pending else None,
                           minutes=max(1, int((pending.expires_at - now) // 60)) if pending else 0,
                           wrong_tries=wrong, tries_allowed=pairing.WRONG_TRIES_PER_CODE,
                           allowed=allowed, cloud_url=request.host_url.rstrip("/"))
