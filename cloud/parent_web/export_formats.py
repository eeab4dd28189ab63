"""The readable downloads of everything held (issue 27.4): CSV and a printable HTML page.

Both are built from `cloud.child_data.export_document`, the JSON download's own document, row
by row through `export_rows`, so the three formats hold the same records and cannot drift
apart: a value the JSON has is a row of the CSV and a row of the page.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CSV_COLUMNS = ("record", "table", "record_id", "field", "value", "category", "purpose",
               "legal_basis", "collected_at_utc", "expires_at_utc")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); a
# leading apostrophe makes it text. An apostrophe is escaped too, so the mark is reversible.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass(frozen=True)
class ExportRow:
    """One value held, in the words and order of the export document."""

    record: str
    table: str
    record_id: str
    field: str
    value: str
    category: str
    purpose: str
    legal_basis: str
    collected_at: str | None
    expires_at: str | None


def cell(value: Any) -> str:
    """A held value as text: empty for nothing, numbers as Python writes them."""
    return "" if value is None else str(value)


def export_rows(document: dict[str, Any]) -> list[ExportRow]:
    return [ExportRow(record["title"], record["table"], str(record["row_id"]), value["field"],
                      cell(value["value"]), value["category"], value["purpose"],
                      value["legal_basis"], record["collected_at"], record["expires_at"])
            for record in document["records"] for value in record["values"]]


def safe_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unsafe_cell(text: str) -> str:
    """The value `safe_cell` was given."""
    return text[1:] if text.startswith("'") else text


def to_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in export_rows(document):
        writer.writerow([safe_cell(text) for text in (
            row.record, row.table, row.record_id, row.field, row.value, row.category,
            row.purpose, row.legal_basis, row.collected_at or "", row.expires_at or "")])
    return out.getvalue()


def timestamp(iso_text: str | None) -> float | None:
    return datetime.fromisoformat(iso_text).timestamp() if iso_text else None


def grouped(document: dict[str, Any]) -> list[tuple[dict[str, Any], list[ExportRow]]]:
    """Each record with its rows, for the page: a heading per record, a row per value."""
    rows = export_rows(document)
    groups, start = [], 0
    for record in document["records"]:
        count = len(record["values"])
        groups.append((record, rows[start:start + count]))
        start += count
    return groups
