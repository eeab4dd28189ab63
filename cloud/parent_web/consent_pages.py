"""Notices, per-purpose choices and verification of the parent (R08-R14, R17).

Choosing is one page: Allow or Don't allow for every purpose (nothing pre-selected, R14) and,
if anything new is allowed, how to verify. Declined purposes are switched off at once; allowed
ones only after the chosen method's check passes, on the next page or through the mailbox.
"""

from __future__ import annotations

import re
from typing import Any

import sqlite_utils
from flask import current_app, flash, redirect, render_template, request, session, url_for
from werkzeug.exceptions import NotFound

from cloud.clock import iso
from cloud.db import get_clock, get_db
from cloud.notices import categories, notice_versions
from cloud.parent_web import bp, challenges, outbox
from cloud.parent_web.auth import Page
from cloud.parent_web.consent_state import consentable_purposes, purpose_statuses
from cloud.parent_web.family import Child, owned_child
from cloud.parent_web.granting import grant_verified, revoke_all
from cloud.parent_web.notice_facts import kept_records
from cloud.parent_web.security import (
    TOO_LARGE_FLAG,
    current_parent,
    login_required,
    parent_id,
    safe_next,
)
from cloud.parent_web.uploads import heic_supported, too_large_words
from cloud.parent_web.verification import (
    KBA_QUESTIONS,
    METHODS,
    TEST_IDENTITY_ANSWERS,
    Outcome,
    VerificationFailed,
    check_card,
    check_face_match,
    check_government_id,
    check_kba,
    check_signed_form,
    third_party_refusal,
)
from cloud.seam import seam_point
from cloud.upload_limits import MAX_PHOTO_BYTES
from teddy.contracts.data_map import data_map

PENDING = "pending_consent"
PHONE = re.compile(r"\+?[0-9][0-9 ()-]{6,20}")
# A parent verified this recently is not asked again for more purposes (R08: the consent
# record still names the method that verified them).
REUSE_MINUTES = 30


def _notice_version() -> int:
    return int(current_app.config["TEDDY"].notice_version)


def _titles(purposes: list[str] | tuple[str, ...]) -> list[str]:
    return [data_map().purposes[p].title for p in purposes]


def _notice_context() -> dict[str, Any]:
    dmap = data_map()
    return {"dmap": dmap, "notice_version": _notice_version(),
            "category_text": lambda c: dmap.categories[c]["description"]}


# -- the public notice (R17) ----------------------------------------------------------------
@bp.get("/notice")
def notice() -> Page:
    version = _notice_version()
    previous = notice_versions().get(version - 1, {})
    changes = {p.name: sorted(set(notice_versions()[version].get(p.name, []))
                              - set(previous.get(p.name, [])))
               for p in consentable_purposes(version)} if previous else {}
    return render_template("parent/notice.html", purposes=consentable_purposes(version),
                           other_purposes=[p for p in data_map().purposes.values()
                                           if not p.requires_consent],
                           categories_of=lambda p: sorted(notice_versions()[version][p]),
                           changes=changes, config=current_app.config["TEDDY"],
                           kept=kept_records(data_map(), current_app.config["TEDDY"]),
                           **_notice_context())


# -- step 1: choices -------------------------------------------------------------------------
def _consent_page(kid: Child, status: int = 200, error: str | None = None,
                  chosen: dict[str, str] | None = None, method: str = "",
                  error_at: str | None = None) -> tuple[str, int]:
    """`error_at` names the purpose (or "method") the error is about: it is shown there, next
    to the choice, with a summary at the top of the page that links to it."""
    statuses = purpose_statuses(get_db(), kid.id, _notice_version())
    recent = reusable_verification(get_db(), parent=parent_id(), purposes=[],
                                   now=get_clock().time())
    return render_template("parent/consent.html", child=kid, statuses=statuses,
                           methods=METHODS.values(), error=error, chosen=chosen or {},
                           error_at=error_at, recent=METHODS[recent] if recent else None,
                           reuse_minutes=REUSE_MINUTES,
                           chosen_method=method, iso=iso, **_notice_context()), status


@bp.get("/children/<int:child_id>/consent")
@login_required
def consent_choices(child_id: int) -> Page:
    kid = owned_child(child_id)
    # What is on shows as allowed: that is the parent's own earlier choice, not one made for
    # them (R14); what is off or paused stays unselected.
    current = {s.name: "yes" for s in purpose_statuses(get_db(), kid.id, _notice_version())
               if s.state == "on"}
    return _consent_page(kid, chosen=current)


def reusable_verification(db: sqlite_utils.Database, *, parent: int, purposes: list[str],
                          now: float) -> str | None:
    """The method of this parent's verification within the last REUSE_MINUTES, if it may
    also allow `purposes` (never e-mail plus or text plus for sharing, R09)."""
    row = db.execute("SELECT method FROM consents WHERE parent_id = ? AND granted_at >= ? "
                     "ORDER BY granted_at DESC LIMIT 1",
                     [parent, now - REUSE_MINUTES * 60]).fetchone()
    if row is None or row[0] not in METHODS or third_party_refusal(row[0], purposes):
        return None
    return str(row[0])


@bp.post("/children/<int:child_id>/consent")
@login_required
def consent_submit(child_id: int) -> Page:
    kid = owned_child(child_id)
    offered = [p.name for p in consentable_purposes(_notice_version())]
    if request.form.get("decline_all"):
        choices = dict.fromkeys(offered, "no")
    else:
        choices = {p: request.form.get(f"choice_{p}", "") for p in offered}
    method = request.form.get("method", "")
    bad = [p for p, c in choices.items() if c not in ("yes", "no", "")]
    if bad or not any(choices.values()):
        first = (bad or offered)[0]
        return _consent_page(kid, 400, "Choose Allow or Don't allow for at least one purpose. "
                             "A purpose you leave unanswered stays as it is.", choices, method,
                             error_at=first)
    db = get_db()
    state = {s.name: s.state for s in purpose_statuses(db, kid.id, _notice_version())}
    # An unanswered purpose stays as it is: on stays on, off stays off.
    wanted = [p for p in offered if choices[p] == "yes" or (not choices[p] and state[p] == "on")]
    to_verify = [p for p in wanted if state[p] != "on"]
    if wanted and "core" not in wanted:
        return _consent_page(kid, 400, "Allow Core operation too, or nothing else can work: "
                             "without it the toy sends nothing at all.", choices, method,
                             error_at="core")
    now = get_clock().time()
    reused = (reusable_verification(db, parent=parent_id(), purposes=to_verify, now=now)
              if to_verify and not method else None)
    if to_verify and not reused:
        if method not in METHODS:
            return _consent_page(kid, 400, "Choose how we should check that you are the parent.",
                                 choices, method, error_at="method")
        refusal = third_party_refusal(method, to_verify)
        if refusal:
            return _consent_page(kid, 400, refusal, choices, method, error_at="method")
    declined = [p for p in offered if choices[p] == "no"]
    erasing = [p for p in declined if state[p] != "off"]
    if erasing and not request.form.get("confirmed"):
        form = [(k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"]
        return _confirm_off(kid, erasing, url_for("parent_web.consent_submit", child_id=kid.id),
                            url_for("parent_web.consent_choices", child_id=kid.id), form)
    turned_off = revoke_all(db, child_id=kid.id, parent_id=parent_id(), purposes=declined,
                            now=now)
    if turned_off:
        flash("Turned off: " + ", ".join(_titles(turned_off.purposes)) + ". The toy stops on "
              "its next request. " + turned_off.summary())
    if not to_verify:
        if not wanted:
            flash("Nothing is allowed. Teddy plays on the toy alone and sends nothing about "
                  f"{kid.display_name}.")
        elif not turned_off:
            flash("No change: everything you allowed was already on.")
        return redirect(url_for("parent_web.child", child_id=kid.id))
    if reused:
        grant_verified(db, child_id=kid.id, parent_id=parent_id(), purposes=to_verify,
                       method=reused, notice_version=_notice_version(), now=now)
        flash("Now allowed: " + ", ".join(_titles(to_verify)) + ". You were verified by "
              f"{METHODS[reused].title.lower()} in the last {REUSE_MINUTES} minutes, so no new "
              "check was needed.")
        return redirect(url_for("parent_web.child", child_id=kid.id))
    session[PENDING] = {"child_id": kid.id, "purposes": to_verify, "method": method}
    return redirect(url_for("parent_web.verify", child_id=kid.id))


# -- step 2: verification ---------------------------------------------------------------------
def _pending_for(kid: Child) -> dict[str, Any] | None:
    pending = session.get(PENDING)
    if isinstance(pending, dict) and pending.get("child_id") == kid.id:
        return pending
    return None


def _verify_page(kid: Child, pending: dict[str, Any], status: int = 200,
                 error: str | None = None) -> tuple[str, int]:
    # What was typed comes back on an error; files cannot (browsers never refill them).
    return render_template("parent/verify.html", child=kid, method=METHODS[pending["method"]],
                           purposes=_titles(pending["purposes"]), error=error,
                           form=request.form if request.method == "POST" else {},
                           questions=KBA_QUESTIONS, test_identity=TEST_IDENTITY_ANSWERS,
                           heic=heic_supported(),
                           photo_mb=MAX_PHOTO_BYTES // (1024 * 1024)), status


@bp.get("/children/<int:child_id>/verify")
@login_required
def verify_form(child_id: int) -> Page:
    kid = owned_child(child_id)
    pending = _pending_for(kid)
    if pending is None:
        flash("Choose what to allow first.")
        return redirect(url_for("parent_web.consent_choices", child_id=kid.id))
    if request.args.get(TOO_LARGE_FLAG):
        return _verify_page(kid, pending, 400, too_large_words("this check"))
    return _verify_page(kid, pending)


@seam_point("verification_outcome")
def _instant_check(method: str) -> Outcome:
    form, files = request.form, request.files
    now = get_clock().time()
    if method == "payment_card":
        return check_card(form.get("card_number", ""), form.get("expiry", ""),
                          form.get("cvc", ""), now)
    if method == "knowledge_questions":
        return check_kba({q.key: form.get(f"kba_{q.key}", "") for q in KBA_QUESTIONS})
    if method == "government_id":
        return check_government_id(files.get("id_image"))
    if method == "face_match":
        return check_face_match(files.get("id_image"), files.get("selfie"))
    if method == "signed_form":
        return check_signed_form(files.get("signed_form"), form.get("signer_name", ""))
    raise ValueError(f"{method} is not an instant method")


@bp.post("/children/<int:child_id>/verify")
@login_required
def verify(child_id: int) -> Page:
    kid = owned_child(child_id)
    pending = _pending_for(kid)
    if pending is None:
        flash("Choose what to allow first.")
        return redirect(url_for("parent_web.consent_choices", child_id=kid.id))
    method, purposes = pending["method"], list(pending["purposes"])
    db, now = get_db(), get_clock().time()
    parent = current_parent()
    assert parent is not None
    if METHODS[method].challenge:
        phone = request.form.get("phone", "").strip()
        if method == "text_plus" and not PHONE.fullmatch(phone):
            return _verify_page(kid, pending, 400, "Enter a mobile number, like +1 555 0100 "
                                                   "200. It is used once and not stored.")
        request_id = challenges.start(db, parent_id=parent["id"], parent_email=parent["email"],
                                      child_id=kid.id, method=method, purposes=purposes,
                                      now=now, phone=phone)
        session.pop(PENDING, None)
        return redirect(url_for("parent_web.challenge", request_id=request_id))
    try:
        outcome = _instant_check(method)
    except VerificationFailed as exc:
        return _verify_page(kid, pending, 400, str(exc))
    grant_verified(db, child_id=kid.id, parent_id=parent["id"], purposes=purposes,
                   method=method, notice_version=_notice_version(), now=now)
    session.pop(PENDING, None)
    # One confirmation for one action: what is now allowed, then what the check did.
    flash(f"Verified by {METHODS[method].title.lower()}. Now allowed: "
          + ", ".join(_titles(purposes)) + ". " + " ".join(outcome.evidence))
    return redirect(url_for("parent_web.child", child_id=kid.id))


# -- two-step methods: the secret comes back from the mailbox ---------------------------------
@bp.get("/verify/<request_id>")
@login_required
def challenge(request_id: str) -> Page:
    found = challenges.pending(get_db(), request_id[:64], parent_id(), get_clock().time())
    if found is None:
        raise NotFound()
    return render_template("parent/challenge.html", pending=found,
                           method=METHODS[found.method], purposes=_titles(found.purposes),
                           token=request.args.get("token", "")[:128], error=None)


@bp.post("/verify/<request_id>")
@login_required
def challenge_submit(request_id: str) -> Page:
    db, now = get_db(), get_clock().time()
    parent = current_parent()
    assert parent is not None
    found = challenges.pending(db, request_id[:64], parent["id"], now)
    if found is None:
        raise NotFound()
    owned_child(found.child_id)
    secret = request.form.get("token") or request.form.get("code", "")
    try:
        challenges.redeem(db, found.request_id, parent["id"], secret[:128], now)
    except VerificationFailed as exc:
        return render_template("parent/challenge.html", pending=found,
                               method=METHODS[found.method], purposes=_titles(found.purposes),
                               token="", error=str(exc)), 400
    grant_verified(db, child_id=found.child_id, parent_id=parent["id"], purposes=found.purposes,
                   method=found.method, notice_version=_notice_version(), now=now)
    if found.method in ("email_plus", "text_plus"):
        challenges.send_delayed_confirmation(
            db, parent_id=parent["id"], parent_email=parent["email"], child_id=found.child_id,
            method=found.method, titles=_titles(found.purposes), now=now)
    later = (" We will send you a confirmation tomorrow, as e-mail plus and text plus require."
             if found.method in ("email_plus", "text_plus") else "")
    flash(f"Verified by {METHODS[found.method].title.lower()}. Now allowed: "
          + ", ".join(_titles(found.purposes)) + "." + later)
    return redirect(url_for("parent_web.child", child_id=found.child_id))


# -- revoking (R12) ---------------------------------------------------------------------------
def _confirm_off(kid: Child, purposes: list[str], action: str, back: str,
                 hidden: list[tuple[str, str]]) -> Page:
    """The step before anything is erased: what goes, and what the child will be called."""
    dmap = data_map()
    erased = [f"{dmap.purposes[p].title}: " + "; ".join(
        dmap.categories[c]["description"].lower()
        for c in sorted(categories(p, _notice_version()))) for p in purposes]
    renamed = ""
    if "personalisation" in purposes and kid.first_name:
        renamed = (f"The first name {kid.first_name} is erased too: your pages will call this "
                   + (f"child {kid.label}, the label you chose." if kid.label else
                      f"child \"Child {kid.id}\". Give a nickname or initials on the child's "
                      "page first to keep something you recognise."))
    return render_template("parent/confirm_off.html", child=kid, titles=_titles(purposes),
                           erased=erased, renamed=renamed, action=action, back=back,
                           hidden=hidden)


@bp.get("/children/<int:child_id>/consent/<purpose>/revoke")
@login_required
def revoke_page(child_id: int, purpose: str) -> Page:
    kid = owned_child(child_id)
    state = {s.name: s.state for s in purpose_statuses(get_db(), kid.id, _notice_version())}
    if state.get(purpose, "off") == "off":
        return redirect(url_for("parent_web.child", child_id=kid.id))
    back = safe_next(request.args.get("next") or url_for("parent_web.child", child_id=kid.id))
    return _confirm_off(kid, [purpose], url_for("parent_web.revoke", child_id=kid.id,
                                                purpose=purpose), back, [("next", back)])


@bp.post("/children/<int:child_id>/consent/<purpose>/revoke")
@login_required
def revoke(child_id: int, purpose: str) -> Page:
    kid = owned_child(child_id)
    if purpose not in {p.name for p in consentable_purposes(_notice_version())}:
        raise NotFound()
    if not request.form.get("confirmed"):
        return redirect(url_for("parent_web.revoke_page", child_id=kid.id, purpose=purpose,
                                next=request.form.get("next") or None))
    title = data_map().purposes[purpose].title
    revoked = revoke_all(get_db(), child_id=kid.id, parent_id=parent_id(), purposes=[purpose],
                         now=get_clock().time())
    if revoked:
        flash(f"{title} is off. The toy stops on its very next request. {revoked.summary()}")
    else:
        flash(f"{title} was already off.")
    return redirect(safe_next(request.form.get("next")
                              or url_for("parent_web.child", child_id=kid.id)))


# -- the simulated mailbox and the printable form ----------------------------------------------
@bp.get("/outbox")
@login_required
def mailbox() -> Page:
    messages = outbox.mailbox(get_db(), parent_id(), get_clock().time())
    return render_template("parent/outbox.html", messages=messages, iso=iso)


@bp.get("/children/<int:child_id>/consent-form")
@login_required
def consent_form(child_id: int) -> Page:
    kid = owned_child(child_id)
    return render_template("parent/consent_form.html", child=kid,
                           purposes=consentable_purposes(_notice_version()),
                           **_notice_context())
