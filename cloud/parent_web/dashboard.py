"""The dashboard of everything held (R22), JSON export, and deletion of one item or all (R18).

Deletion itself belongs to `cloud.retention.erasure`; these routes only check the parent's
request and show the result.
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest

from cloud import audit
from cloud.child_data import HeldRecord, export_document, inventory
from cloud.clock import iso
from cloud.db import get_clock, get_db
from cloud.parent_web import bp
from cloud.parent_web.auth import Page
from cloud.parent_web.consent_state import purpose_statuses
from cloud.parent_web.export_formats import grouped, timestamp, to_csv
from cloud.parent_web.family import Child, owned_child
from cloud.parent_web.plain_words import purpose_groups, record_counts, timeline
from cloud.parent_web.printable import page_response, style
from cloud.parent_web.receipts import receipt_context, receipt_zone
from cloud.parent_web.security import login_required, parent_id
from cloud.parent_web.words import (
    country_zone,
    local_time,
    zone_words,
)
from cloud.retention import erasure
from cloud.retention.erasure import ERASABLE_ITEMS, ErasureError, erase_item
from teddy.contracts.data_map import data_map

CONFIRM_WORD = "DELETE"
PAGE_SIZE = 50


def _config():  # type: ignore[no-untyped-def]
    return current_app.config["TEDDY"]


@bp.get("/children/<int:child_id>/data")
@login_required
def data(child_id: int) -> Page:
    kid = owned_child(child_id)
    db = get_db()
    records = inventory(db, kid.id, inactive_days=_config().inactive_profile_days)
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError as exc:
        raise BadRequest("That page number is not valid.") from exc
    shown, pages = one_page(records, page)
    if page > pages:
        return redirect(url_for("parent_web.data", child_id=kid.id, page=pages))
    groups = [(table, rows[0].title, rows) for table, rows in
              ((t, list(g)) for t, g in groupby(shown, key=lambda r: r.table))]
    return render_template("parent/dashboard.html", child=kid, groups=groups, iso=iso,
                           known=purpose_groups(shown, _config()), timeline=timeline(records),
                           counts=record_counts(records), dmap=data_map(), page=page,
                           pages=pages, page_size=PAGE_SIZE,
                           statuses=purpose_statuses(db, kid.id, _config().notice_version))


def one_page(records: list[HeldRecord], page: int) -> tuple[list[HeldRecord], int]:
    """The records of one page: of each kind, the PAGE_SIZE newest on page 1, the next ones
    on page 2 and so on (a kind with fewer rows shows them all on every page). 30,000 history
    entries made an 81 MB page; the download keeps everything."""
    by_table: dict[str, list[HeldRecord]] = {}
    for record in records:
        by_table.setdefault(record.table, []).append(record)
    pages = max([1, *(-(-len(rows) // PAGE_SIZE) for rows in by_table.values())])
    shown: list[HeldRecord] = []
    for rows in by_table.values():
        if len(rows) <= PAGE_SIZE:
            shown += rows
            continue
        newest = sorted(rows, key=lambda r: r.collected_at or 0, reverse=True)
        shown += newest[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return shown, pages


def _exported(kid: Child, export_format: str) -> tuple[dict[str, Any], float]:
    """The export document, the same for every format, with its audit entry."""
    db, now = get_db(), get_clock().time()
    document = export_document(db, kid.id, now=now, notice_version=_config().notice_version,
                               inactive_days=_config().inactive_profile_days)
    audit.append(db, at=now, actor=audit.subject_ref("parent", parent_id()),
                 action="data.export", subject=audit.subject_ref("child", kid.id),
                 details={"count": len(document["records"]), "scope": "all",
                          "format": export_format})
    return document, now


@bp.get("/children/<int:child_id>/export.json")
@login_required
def export(child_id: int) -> Response:
    kid = owned_child(child_id)
    document, _ = _exported(kid, "json")
    body = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="teddy-child-{kid.id}-export.json"'})


@bp.get("/children/<int:child_id>/export.csv")
@login_required
def export_csv(child_id: int) -> Response:
    kid = owned_child(child_id)
    document, _ = _exported(kid, "csv")
    # A byte-order mark, so spreadsheet programs read the UTF-8 names as UTF-8.
    return Response("\ufeff" + to_csv(document), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="teddy-child-{kid.id}-export.csv"'})


@bp.get("/children/<int:child_id>/export.html")
@login_required
def export_html(child_id: int) -> Response:
    kid = owned_child(child_id)
    document, now = _exported(kid, "html")
    return page_response(export_page(kid, document, now),
                         filename=f"teddy-child-{kid.id}-export.html",
                         attachment=request.args.get("download") == "1")


def export_page(kid: Child, document: dict[str, Any], now: float) -> str:
    """The printable page of an export document, in the child's country's time."""
    groups = grouped(document)
    return render_template("parent/export_page.html", child=kid, document=document,
                           groups=groups, rows_total=sum(len(rows) for _, rows in groups),
                           exported_at=now, timestamp=timestamp, style=style(),
                           purposes=data_map().purposes, zone_words=zone_words(kid.country),
                           local_time=local_time)


@bp.get("/children/<int:child_id>/data/<table>/<row_id>/delete")
@login_required
def delete_item_page(child_id: int, table: str, row_id: str) -> Page:
    # Deleting takes the button on the dashboard; the address alone shows the dashboard.
    return redirect(url_for("parent_web.data", child_id=owned_child(child_id).id))


@bp.post("/children/<int:child_id>/data/<table>/<row_id>/delete")
@login_required
def delete_item(child_id: int, table: str, row_id: str) -> Page:
    kid = owned_child(child_id)
    key_type = ERASABLE_ITEMS.get(table)
    if key_type is None:
        raise BadRequest(f"Single items cannot be deleted from {table}. Use Delete everything "
                         "to remove all data about your child.")
    try:
        key: int | str = key_type(row_id)
    except ValueError as exc:
        raise BadRequest("That item reference is not valid.") from exc
    receipt = erase_item(get_db(), child_id=kid.id, parent_id=parent_id(), table=table,
                         row_id=key, now=get_clock().time())
    if receipt is None:
        flash("That item was already gone.")
        return redirect(url_for("parent_web.data", child_id=kid.id))
    return redirect(url_for("parent_web.item_receipt", receipt_id=receipt.receipt_id,
                            child=kid.id))


@bp.get("/children/<int:child_id>/delete")
@login_required
def delete_all_form(child_id: int) -> Page:
    job = erasure.erasure_status(get_db(), child_id=child_id, parent_id=parent_id())
    if job is not None:
        return _erasure_page(job)
    return render_template("parent/delete.html", child=owned_child(child_id),
                           confirm_word=CONFIRM_WORD, error=None)


@bp.post("/children/<int:child_id>/delete")
@login_required
def delete_all(child_id: int) -> Page:
    db, now = get_db(), get_clock().time()
    job = erasure.erasure_status(db, child_id=child_id, parent_id=parent_id())
    if job is not None:
        # A retry after a timeout or a crash: carry the erasure on and say how far it is.
        if not job.done:
            job = erasure.continue_erasure(db, job_id=job.job_id, db_path=_config().db_path,
                                           now=now,
                                           finish_within_s=_config().erasure_request_budget_s)
        return _erasure_page(job)
    kid = owned_child(child_id)
    if request.form.get("confirm", "").strip().upper() != CONFIRM_WORD:
        return render_template("parent/delete.html", child=kid, confirm_word=CONFIRM_WORD,
                               error=f"Type {CONFIRM_WORD} to confirm. Nothing was deleted."), 400
    try:
        job = erasure.request_erasure(db, child_id=kid.id, parent_id=parent_id(), now=now,
                                      db_path=_config().db_path,
                                      finish_within_s=_config().erasure_request_budget_s)
    except ErasureError as exc:
        raise BadRequest("Nothing was deleted: this child is not in your family.") from exc
    # The child's country is gone with the child; its time zone goes on in the receipt's link.
    return _erasure_page(job, country_zone(kid.country))


@bp.get("/children/<int:child_id>/receipt")
@login_required
def receipt_page(child_id: int) -> Page:
    """The erasure receipt on its own, to print or keep: no site around it, no child content."""
    db = get_db()
    job = erasure.erasure_status(db, child_id=child_id, parent_id=parent_id())
    if job is None or not job.done or job.receipt is None:
        # No receipt yet (or never an erasure): the deletion page says where things stand.
        return redirect(url_for("parent_web.delete_all_form", child_id=child_id))
    body = render_template("parent/receipt_page.html", style=style(),
                           operator=_config().operator_name,
                           facts_template="parent/_receipt_facts.html",
                           scope_words="Everything Teddy held about one child was deleted at "
                                       "the parent's request.",
                           proven=job.receipt["proof"]["clean"],
                           **receipt_context(job.receipt, receipt_zone(db)))
    return page_response(body, filename=f"teddy-{job.job_id}.html",
                         attachment=request.args.get("download") == "1")


def _erasure_page(job: erasure.ErasureJob, zone: ZoneInfo | None = None) -> Page:
    if job.done and job.receipt is not None:
        zone = zone or receipt_zone(get_db())
        printable = url_for("parent_web.receipt_page", child_id=job.child_id,
                            **({"zone": zone.key} if zone else {}))
        return render_template("parent/receipt.html", printable_url=printable,
                               receipt_json=json.dumps(job.receipt, indent=2, sort_keys=True),
                               **receipt_context(job.receipt, zone))
    from cloud.retention.scheduler import erasure_runner

    erasure_runner(current_app).kick()
    return render_template("parent/erasure_progress.html", job=job), 202
