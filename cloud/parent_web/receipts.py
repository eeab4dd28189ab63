"""Deletion receipts: the wording both kinds share, and the receipt for one deleted item.

The whole-child receipt is shown by `dashboard` (it belongs to the erasure job); a single
item's receipt is read back from the accountability log (`cloud.retention.item_receipt`), so
it can be opened, printed and downloaded again later, by the parent who deleted the item only.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import abort, current_app, render_template, request, url_for

from cloud.child_data import TABLE_TITLES
from cloud.db import get_db
from cloud.parent_web import bp
from cloud.parent_web.auth import Page
from cloud.parent_web.family import children_of
from cloud.parent_web.printable import page_response, style
from cloud.parent_web.security import login_required, parent_id
from cloud.parent_web.words import country_zone, zone_named, zoned_time
from cloud.retention.item_receipt import find_item_receipt, proof_words
from cloud.retention.policy import backup_retention_days
from teddy.contracts.data_map import data_map


def receipt_zone(db: sqlite_utils.Database) -> ZoneInfo | None:
    """The zone the receipt's times are shown in: the one its link names (set when the
    receipt was first shown, from the child's country), else the family's, if its children
    all live in one; else none, and times are in UTC, said so."""
    named = zone_named(request.args.get("zone"))
    if named is not None:
        return named
    zones = {country_zone(c.country) for c in children_of(db, parent_id())}
    return zones.pop() if len(zones) == 1 else None


def receipt_context(receipt: Any, zone: ZoneInfo | None) -> dict[str, Any]:
    return {"receipt": receipt, "zone": zone, "zoned_time": zoned_time,
            "zone_said": f"in {zone.key} time" if zone else "in UTC",
            "titles": TABLE_TITLES,
            "category_words": {name: spec["description"]
                               for name, spec in data_map().categories.items()}}


def _item_receipt_or_404(receipt_id: str) -> tuple[Any, dict[str, Any]]:
    db = get_db()
    receipt = find_item_receipt(db, receipt_id, parent_id())
    if receipt is None:
        abort(404)
    context = receipt_context(receipt, receipt_zone(db))
    context.update(proof_words=proof_words, backup_days=backup_retention_days())
    return receipt, context


@bp.get("/receipts/<receipt_id>")
@login_required
def item_receipt(receipt_id: str) -> Page:
    receipt, context = _item_receipt_or_404(receipt_id)
    zone = context["zone"]
    printable = url_for("parent_web.item_receipt_printable", receipt_id=receipt.receipt_id,
                        **({"zone": zone.key} if zone else {}))
    child = request.args.get("child", "")
    owned = {str(c.id) for c in children_of(get_db(), parent_id())}
    back = url_for("parent_web.data", child_id=int(child)) if child in owned else None
    return render_template("parent/item_receipt.html", printable_url=printable, back_url=back,
                           **context)


@bp.get("/receipts/<receipt_id>/printable")
@login_required
def item_receipt_printable(receipt_id: str) -> Page:
    """The receipt on its own, to print or keep: no site around it, no child content."""
    receipt, context = _item_receipt_or_404(receipt_id)
    body = render_template("parent/receipt_page.html", style=style(),
                           operator=current_app.config["TEDDY"].operator_name,
                           facts_template="parent/_item_receipt_facts.html",
                           scope_words="One item Teddy held about a child was deleted at the "
                                       "parent's request.",
                           proven=receipt.proven, **context)
    return page_response(body, filename=f"teddy-{receipt.receipt_id}.html",
                         attachment=request.args.get("download") == "1")
