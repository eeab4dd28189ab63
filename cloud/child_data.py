"""Everything held about one child, value by value, for the dashboard and the export (R22).

The list is derived, not hand-written: the tables come from the live schema via the same
erase plan the erasure uses (every table with a child_id, every table keyed by the child's
toys), plus the child's own row and the audit entries that refer to the child. Each column's
category, purpose and legal basis come from the data map, so a column added there shows up
here with no change to this module. Expiry mirrors what the retention purge acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from cloud.audit import subject_ref
from cloud.clock import iso
from cloud.keys.fields import open_row
from cloud.retention.erasure import ERASABLE_ITEMS
from cloud.retention.policy import CHILD_KEY, DAY_S, DEVICE_KEY, erase_plan
from cloud.seam import seam_point
from cloud.storage.db import is_postgres
from teddy.contracts.data_map import data_map

TABLE_TITLES = {
    "children": "Your child's record",
    "profile_facts": "What Teddy remembers (personalisation)",
    "intent_events": "What your child asked for (history)",
    "devices": "Paired toys",
    "pairing_codes": "Pairing codes not yet used",
    "consents": "Your consent decisions",
    "seen_nonces": "Request numbers (stop replayed requests)",
    "verification_requests": "Verifications waiting for you",
    "parent_outbox": "Messages we sent you about this child",
    "audit_log": "Accountability log (no content about your child)",
    "processed_messages": "The toy's last answers (kept 10 minutes, so a retry is answered once)",
}
# Tables that hold nothing about any child: the parent's account, sessions and one-time links,
# sign-in and pairing throttling (keyed hashes and counts), schema bookkeeping, and erasure
# jobs, which name only children that no longer exist, by a never-reused id. Every other table
# must be reachable from a child.
NOT_ABOUT_A_CHILD = frozenset({"parents", "schema_migrations", "login_attempts",
                               "parent_sessions", "parent_tokens",
                               "pairing_failures", "erasure_jobs",
                               # Shared by the app servers (cloud.fleet): a key and turns.
                               "server_secrets", "leases"})
# Credentials are shown as present, never as values: a leaked page or export must not let
# anyone impersonate the toy.
HIDDEN_COLUMNS = {("devices", "secret"), ("verification_requests", "secret_hash")}
COLLECTED_COLUMNS = ("collected_at", "received_at", "granted_at", "paired_at", "created_at",
                     "seen_at", "at")
# Columns that only tie a row to the child or name the row: shown as the record, not as values.
LINK_COLUMNS = frozenset({"id", "seq", CHILD_KEY, "parent_id"})
# Rows that declare their own category and purpose (a remembered fact) refine the data map's
# column-level declaration for their content.
ROW_DECLARED_CONTENT = {"profile_facts": ("key", "value")}


@dataclass(frozen=True)
class HeldValue:
    field: str
    value: Any
    category: str
    purpose: str
    legal_basis: str
    personal: bool
    link: bool
    meta: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "category": self.category,
                "purpose": self.purpose, "legal_basis": self.legal_basis,
                "personal": self.personal}


@dataclass(frozen=True)
class HeldRecord:
    table: str
    row_id: str
    collected_at: float | None
    expires_at: float | None
    values: tuple[HeldValue, ...]

    @property
    def title(self) -> str:
        return TABLE_TITLES.get(self.table, self.table.replace("_", " ").capitalize())

    @property
    def erasable(self) -> bool:
        return self.table in ERASABLE_ITEMS

    @property
    def shown_values(self) -> tuple[HeldValue, ...]:
        """Values apart from row links and the record's own dates and labels, which the
        dashboard shows once per record instead of once per field."""
        return tuple(v for v in self.values if not v.link and not v.meta)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table, "title": self.title, "row_id": self.row_id,
            "collected_at": iso(self.collected_at) if self.collected_at else None,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "values": [v.to_json() for v in self.values],
        }


def _rows(db: sqlite_utils.Database, table: str, where: str,
          params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(f"SELECT * FROM \"{table}\" WHERE {where}", params)
    names = [d[0] for d in cursor.description]
    # Sealed columns are shown and exported opened, exactly as the parent gave them.
    return [open_row(db, table, dict(zip(names, row, strict=True)))
            for row in cursor.fetchall()]


def _row_id(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> str:
    keys = db[table].pks
    return "/".join(str(row[k]) for k in keys)


def _collected(row: dict[str, Any]) -> float | None:
    return next((float(row[c]) for c in COLLECTED_COLUMNS if row.get(c) is not None), None)


def _expires(table: str, row: dict[str, Any], collected: float | None,
             inactive_days: int) -> float | None:
    """When the purge removes the row; None while it lives as long as something else does."""
    if row.get("expires_at") is not None:
        return float(row["expires_at"])
    keep_s = data_map().retention_days(table) * DAY_S
    if table == "children":
        # What the purge enforces: the record goes once the toy has been unused this long.
        return float(row["last_active_at"]) + inactive_days * DAY_S
    if table == "consents":
        # A consent that is on is kept while it is on; a revoked one as the record of it.
        return float(row["revoked_at"]) + keep_s if row["revoked_at"] is not None else None
    if table == "devices":
        return float(row["last_seen_at"] or row["paired_at"]) + keep_s
    return collected + keep_s if collected is not None else None


def _values(table: str, row: dict[str, Any]) -> tuple[HeldValue, ...]:
    dmap = data_map()
    columns = dmap.tables[table]["columns"]
    refined = ROW_DECLARED_CONTENT.get(table, ())
    meta = {*COLLECTED_COLUMNS, "expires_at", *(("category", "purpose") if refined else ())}
    values = []
    for name, spec in columns.items():
        category, purpose = spec["category"], spec["purpose"]
        if name in refined and row.get("category") in dmap.categories \
                and row.get("purpose") in dmap.purposes:
            category, purpose = row["category"], row["purpose"]
        value = row.get(name)
        if (table, name) in HIDDEN_COLUMNS and value is not None:
            value = f"[hidden: {len(str(value))} characters]"
        values.append(HeldValue(name, value, category, purpose, spec["legal_basis"],
                                bool(dmap.categories[category]["personal"]),
                                name in LINK_COLUMNS, name in meta))
    return tuple(values)


def _record(db: sqlite_utils.Database, table: str, row: dict[str, Any],
            inactive_days: int) -> HeldRecord:
    collected = _collected(row)
    return HeldRecord(table, _row_id(db, table, row), collected,
                      _expires(table, row, collected, inactive_days), _values(table, row))


def inventory(db: sqlite_utils.Database, child_id: int, *,
              inactive_days: int = 180) -> list[HeldRecord]:
    """Every record about the child, the child's own row first; empty if there is no child."""
    child_rows = _rows(db, "children", "id = ?", [child_id])
    if not child_rows:
        return []
    records = [_record(db, "children", child_rows[0], inactive_days)]
    plan = erase_plan(db)
    for table in plan.by_child:
        for row in _rows(db, table, f"\"{CHILD_KEY}\" = ?{_order_by(db, table)}", [child_id]):
            records.append(_record(db, table, row, inactive_days))
    devices = [r[0] for r in db.execute("SELECT id FROM devices WHERE child_id = ?", [child_id])]
    for table in plan.by_device:
        for device in devices:
            for row in _rows(db, table, f"\"{DEVICE_KEY}\" = ?", [device]):
                records.append(_record(db, table, row, inactive_days))
    for row in _rows(db, "audit_log", "subject = ? ORDER BY seq",
                     [subject_ref("child", child_id)]):
        records.append(_record(db, "audit_log", row, inactive_days))
    order = list(TABLE_TITLES)
    return sorted(records, key=lambda r: order.index(r.table) if r.table in order else len(order))


def unreachable_tables(db: sqlite_utils.Database) -> list[str]:
    """Data-map tables that may hold child data yet `inventory` has no way to reach."""
    plan = erase_plan(db)
    reachable = {"children", "audit_log", *plan.by_child, *plan.by_device}
    return sorted(set(data_map().tables) - reachable - NOT_ABOUT_A_CHILD)


def _order_by(db: sqlite_utils.Database, table: str) -> str:
    """Rows in the order they were stored: SQLite's rowid where the table has one; on
    PostgreSQL, which has no rowid, the never-reused integer id, else the primary key."""
    if is_postgres(db):
        pks = db[table].pks
        return " ORDER BY " + ", ".join(f'"{k}"' for k in pks) if pks else ""
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                     [table]).fetchone()
    return " ORDER BY rowid" if sql and "WITHOUT ROWID" not in sql[0].upper() else ""


@seam_point("export_document")
def export_document(db: sqlite_utils.Database, child_id: int, *, now: float,
                    notice_version: int, inactive_days: int = 180) -> dict[str, Any]:
    records = inventory(db, child_id, inactive_days=inactive_days)
    return {
        "format": "teddy-child-export/1",
        "child_id": child_id,
        "exported_at": iso(now),
        "notice_version": notice_version,
        "categories": {name: spec["description"] for name, spec in data_map().categories.items()
                       if any(v.category == name for r in records for v in r.values)},
        "purposes": {name: {"title": p.title, "retention_days": p.retention_days}
                     for name, p in data_map().purposes.items()},
        "records": [r.to_json() for r in records],
    }
