"""Checks through the parent's eyes: the real pages, forms and downloads on the parent web."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import requests

from scenarios.args import arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import quoted, read_only
from scenarios.context import ScenarioContext
from teddy.contracts.data_map import data_map

# Tables whose rows the parent must find, one for one, in the export (R22).
EXPORTED_TABLES = ("profile_facts", "intent_events", "consents", "devices")
REFUSAL_STATUSES = range(400, 500)


class _Inputs(HTMLParser):
    """The form controls of a page: inputs, and buttons with their attributes and label."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.inputs: list[dict[str, str]] = []
        self.buttons: list[dict[str, str]] = []
        self._in_button = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "input":
            self.inputs.append(values)
        elif tag == "button":
            self.buttons.append({**values, "label": ""})
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self.buttons[-1]["label"] += data


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _session(ctx: ScenarioContext) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ctx.cloud.ca_file) if ctx.cloud.ca_file else True
    return session


@check("consent_form_fair")
def consent_form_fair(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Nothing pre-ticked; every purpose has Allow and Don't allow; declining is one button
    styled like accepting (R14)."""
    family = ctx.family(arg(args, "family", str, "a"))
    html = family.require_parent().get(f"/parent/children/{family.require_child()}/consent").text
    form = _Inputs(html)
    problems = [f"{i.get('name')}={i.get('value')} is pre-selected" for i in form.inputs
                if "checked" in i and i.get("type") in ("radio", "checkbox")]
    choices: dict[str, set[str]] = {}
    for i in form.inputs:
        if i.get("type") == "radio" and i.get("name", "").startswith("choice_"):
            choices.setdefault(i["name"], set()).add(i.get("value", ""))
    problems += [f"{name} offers {sorted(values)}, not both yes and no"
                 for name, values in choices.items() if values != {"yes", "no"}]
    if not choices:
        problems.append("no per-purpose choices on the consent page")
    decline = [b for b in form.buttons if b.get("name") == "decline_all"]
    accept = [b for b in form.buttons if b not in decline
              and re.search(r"\b(save|allow|agree|accept)\b", b["label"], re.IGNORECASE)]
    if not accept:
        problems.append("no button to save the choices")
    if not decline:
        problems.append("no one-click way to decline everything")
    elif accept and decline[0].get("class") != accept[0].get("class"):
        problems.append(f"decline is styled {decline[0].get('class')!r}, accept "
                        f"{accept[0].get('class')!r}")
    labels = [" ".join(b["label"].split()) for b in [*accept[:1], *decline[:1]]]
    return held_if(problems, f"{len(choices)} purposes, each Allow / Don't allow with nothing "
                             f"pre-selected; buttons {labels} styled alike")


@check("notice_shows_retention")
def notice_shows_retention(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The public notice page gives every purpose's and every table's retention (R17)."""
    response = _session(ctx).get(ctx.cloud.url + "/parent/notice", timeout=10)
    text = _text(response.text).lower()
    problems = [] if response.status_code == 200 else [f"notice page answered "
                                                        f"{response.status_code}"]
    dmap = data_map()
    for purpose in dmap.purposes.values():
        if purpose.requires_consent and purpose.title.lower() not in text:
            problems.append(f"purpose {purpose.title!r} not on the notice")
    # Parents read kinds of data, not table names (issue 16.4): each table by its plain name.
    from cloud.parent_web.notice_facts import RECORD_NAMES

    plain = html.unescape(text)
    problems += [f"table {table!r} has no retention line" for table in dmap.tables
                 if RECORD_NAMES.get(table, table).lower() not in plain]
    if "kept for" not in text or "deleted after" not in text:
        problems.append("no 'kept for' / 'deleted after' wording on the notice")
    return held_if(problems, f"notice lists retention for {len(dmap.purposes)} purposes and "
                             f"{len(dmap.tables)} tables, without signing in")


@check("consent_age_shown")
def consent_age_shown(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The child's page states the configured consent age for the child's country (R13)."""
    family = ctx.family(arg(args, "family", str, "a"))
    age = arg(args, "age", int)
    html = family.require_parent().get(f"/parent/children/{family.require_child()}").text
    match = re.search(r"Consent age in ([^:<]+): (\d+)", _text(html))
    if match is None:
        return Observation(False, "the child's page states no consent age")
    shown = int(match[2])
    return Observation(shown == age, f"page says consent age in {match[1]} is {shown} "
                                     f"(configured {age})")


@check("add_child_refused")
def add_child_refused(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """A form the configuration does not allow is refused with a 4xx and adds nothing."""
    family = ctx.family(arg(args, "family", str, "a"))
    parent = family.require_parent()
    form = {"first_name": arg(args, "first_name", str, ""),
            "age_band": arg(args, "age_band", str, "6-8"), "country": arg(args, "country", str)}
    with read_only(ctx.cloud.database) as db:
        before = db.execute("SELECT COUNT(*) FROM children").fetchone()[0]
    parent.get("/parent/children/new")
    status, message = _attempt(parent, "POST", "/parent/children/new", form)
    with read_only(ctx.cloud.database) as db:
        after = db.execute("SELECT COUNT(*) FROM children").fetchone()[0]
    problems = []
    if status not in REFUSAL_STATUSES:
        problems.append(f"answered {status}, not a 4xx refusal")
    if after != before:
        problems.append(f"children went from {before} to {after}")
    return held_if(problems, f"{status}: {message[:120]!r}; still {after} children")


def _attempt(parent: Any, method: str, path: str,
             data: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and message of a page request made the way the parent's browser would."""
    from scenarios.parent_client import ParentWebError

    try:
        response = parent.get(path) if method == "GET" else parent.post(path, data)
    except ParentWebError as exc:
        return exc.status, exc.message
    return response.status_code, ""


@check("consent_refused")
def consent_refused(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """A consent the rules forbid is refused, and the purpose stays off in the database (R09)."""
    from scenarios.parent_client import ParentWebError

    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    purposes = str_list(args, "purposes")
    forbidden = arg(args, "stays_off", str)
    refused = ""
    try:
        family.require_parent().verify_and_consent(child_id, method=arg(args, "method", str),
                                                   purposes=purposes)
    except ParentWebError as exc:
        refused = f"{exc.status}: {exc.message[:160]}"
    with read_only(ctx.cloud.database) as db:
        active = db.execute("SELECT COUNT(*) FROM consents WHERE child_id = ? AND purpose = ? "
                            "AND revoked_at IS NULL", [child_id, forbidden]).fetchone()[0]
    problems = [] if refused else ["the page accepted it"]
    if active:
        problems.append(f"{forbidden} consent is on in the database")
    return held_if(problems, f"refused ({refused}); {forbidden} stays off")


@check("dashboard_shows")
def dashboard_shows(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The dashboard shows each value with category, purpose and expiry (R22)."""
    family = ctx.family(arg(args, "family", str, "a"))
    board = family.require_parent().dashboard(family.require_child())
    shown = [item.value.lower() for item in board.items]
    problems = [f"{value!r} not shown" for value in str_list(args, "values", [])
                if not any(value.lower() in v for v in shown)]
    problems += [f"{item.table}.{item.field} lacks category or purpose" for item in board.items
                 if not (item.category and item.purpose)]
    problems += [f"{value!r} is still shown" for value in str_list(args, "absent", [])
                 if any(value.lower() in v for v in shown)]
    expiring = [i for i in board.items if i.table in ("profile_facts", "intent_events")]
    problems += [f"{i.table}.{i.field} has no expiry" for i in expiring if not i.expires]
    return held_if(problems, f"{len(board.items)} values shown, each with category and purpose;"
                             f" {len(expiring)} with their expiry date")


@check("export_complete")
def export_complete(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The JSON export holds every row the database holds about the child, with purposes (R22)."""
    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    document = family.require_parent().export(child_id)
    family.export = document
    records = document.get("records", [])
    text = json.dumps(document).lower()
    problems = [f"{value!r} missing from the export" for value in str_list(args, "values", [])
                if value.lower() not in text]
    with read_only(ctx.cloud.database) as db:
        for table in EXPORTED_TABLES:
            held = db.execute(f"SELECT COUNT(*) FROM {quoted(table)} WHERE child_id = ?",
                              [child_id]).fetchone()[0]
            exported = sum(1 for r in records if r.get("table") == table)
            if exported != held:
                problems.append(f"{table}: {held} rows held, {exported} exported")
    unlabelled = [v for r in records for v in r.get("values", [])
                  if not (v.get("purpose") and v.get("category"))]
    problems += [f"{len(unlabelled)} exported values without purpose or category"] \
        if unlabelled else []
    return held_if(problems, f"export holds {len(records)} records matching the database row for"
                             " row, each value with its category and purpose")


@check("erasure_receipt_clean")
def erasure_receipt_clean(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Deletion finished promptly and the receipt names nothing personal (R20)."""
    family = ctx.family(arg(args, "family", str, "a"))
    receipt, seconds = family.receipt, family.deletion_seconds
    if receipt is None or seconds is None:
        return Observation(False, "no deletion receipt was received")
    text = json.dumps(receipt).lower()
    personal = [*str_list(args, "values", []), family.email]
    problems = [f"receipt contains {value!r}" for value in personal if value.lower() in text]
    limit = arg(args, "max_seconds", float, 30.0)
    if seconds > limit:
        problems.append(f"deletion took {seconds:.1f} s (limit {limit:.0f} s)")
    if not receipt.get("receipt_id"):
        problems.append("receipt has no id")
    return held_if(problems, f"receipt {receipt.get('receipt_id')} after {seconds:.2f} s, "
                             f"{receipt.get('total_rows')} rows removed, no personal data in it")


@check("other_family_denied")
def other_family_denied(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """One parent cannot read, export, change or delete another family's child (R26)."""
    intruder = ctx.family(arg(args, "family", str))
    victim = ctx.family(arg(args, "victim", str))
    parent, child = intruder.require_parent(), victim.require_child()
    attempts = [("GET", f"/parent/children/{child}"), ("GET", f"/parent/children/{child}/data"),
                ("GET", f"/parent/children/{child}/export.json"),
                ("POST", f"/parent/children/{child}/consent/personalisation/revoke"),
                ("POST", f"/parent/children/{child}/delete")]
    with read_only(ctx.cloud.database) as db:
        before = db.execute("SELECT COUNT(*) FROM consents WHERE child_id = ? AND revoked_at "
                            "IS NULL", [child]).fetchone()[0]
    problems = []
    statuses = []
    for method, path in attempts:
        status, _message = _attempt(parent, method, path,
                                    {"confirm": "DELETE", "confirmed": "1"})
        statuses.append(status)
        if status not in REFUSAL_STATUSES:
            problems.append(f"{method} {path} answered {status}")
    with read_only(ctx.cloud.database) as db:
        exists = db.execute("SELECT COUNT(*) FROM children WHERE id = ?", [child]).fetchone()[0]
        after = db.execute("SELECT COUNT(*) FROM consents WHERE child_id = ? AND revoked_at "
                           "IS NULL", [child]).fetchone()[0]
    if not exists or after != before:
        problems.append("the other family's data changed")
    return held_if(problems, f"{len(attempts)} attempts on another family's child refused "
                             f"{sorted(set(statuses))}; their data unchanged")


# Wrong answers for each verification method's own check: a method that lets these through
# verifies nobody (R08 is about the method working, not its name being on record).
WRONG_ANSWERS: dict[str, dict[str, Any]] = {
    "payment_card": {"card_number": "4111111111111112"},  # fails the Luhn check
    "text_plus": {"code": "000000"},
    "video_call": {"code": "000000"},
    "email_plus": {"token": "not-the-token-that-was-mailed"},
    "knowledge_questions": {"answers": {"__all__": "wrong"}},
    # A portrait snapshot, not a licence or passport page.
    "government_id": {"id_image": ("png", 300, 360)},
    # The "selfie" is the ID photo itself: no face was shown.
    "face_match": {"id_image": ("png", 640, 400), "selfie": ("png", 640, 400)},
    "signed_form": {"signed_form": b"I agree. (not a signed form)"},
}


def _wrong_fields(method: str) -> dict[str, Any]:
    from cloud.parent_web.verification import TEST_IDENTITY_ANSWERS
    from scenarios.parent_client import sample_png

    fields = dict(WRONG_ANSWERS[method])
    if "answers" in fields:
        fields["answers"] = {key: "definitely not this" for key in TEST_IDENTITY_ANSWERS}
    for name, value in fields.items():
        if isinstance(value, tuple):
            fields[name] = sample_png(value[1], value[2])
    return fields


@check("wrong_answer_refused")
def wrong_answer_refused(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """A verification method given a wrong answer refuses, and no consent is recorded (R08).

    Judged by the consent rows the attempt added, so each method is tested on its own whatever
    consents the child already has."""
    from scenarios.parent_client import ParentWebError

    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    method = arg(args, "method", str)
    if method not in WRONG_ANSWERS:
        raise ValueError(f"no wrong answer known for {method!r}; known: {sorted(WRONG_ANSWERS)}")
    purposes = str_list(args, "purposes", ["core", "personalisation"])
    recorded = "SELECT COUNT(*) FROM consents WHERE child_id = ?"
    with read_only(ctx.cloud.database) as db:
        before = db.execute(recorded, [child_id]).fetchone()[0]
    said = "the page accepted it"
    try:
        outcome = family.require_parent().verify_and_consent(child_id, method=method,
                                                             purposes=purposes,
                                                             **_wrong_fields(method))
        said = f"the page answered {outcome.messages[:1] or outcome.states}"
    except ParentWebError as exc:
        said = f"refused ({exc.status}: {exc.message[:120]})"
    with read_only(ctx.cloud.database) as db:
        added = db.execute(recorded, [child_id]).fetchone()[0] - before
    if added:
        return Observation(False, f"{method} with a wrong answer recorded {added} consent "
                                  f"row(s) for {purposes} ({said}): the method verifies nobody")
    return Observation(True, f"{method} with a wrong answer: {said}; nothing recorded")
