"""Reading the three export formats back into the same shape, to compare what they hold."""

from __future__ import annotations

import csv
import io
from collections import Counter
from html.parser import HTMLParser
from typing import Any

from cloud.parent_web.export_formats import cell, unsafe_cell

Held = tuple[str, str, str, str]  # table, record id, field, value as text


def json_values(document: dict[str, Any]) -> Counter[Held]:
    return Counter((r["table"], str(r["row_id"]), v["field"], cell(v["value"]))
                   for r in document["records"] for v in r["values"])


def csv_values(text: str) -> Counter[Held]:
    rows = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    return Counter(tuple(unsafe_cell(row[k]) for k in ("table", "record_id", "field", "value"))
                   for row in rows)  # type: ignore[misc]


class _PageValues(HTMLParser):
    """Values as the page shows them: the text of each `.value` inside its record."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: Counter[Held] = Counter()
        self._record: tuple[str, str] | None = None
        self._field: str | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "article" and named.get("data-table"):
            self._record = (named["data-table"] or "", named.get("data-row") or "")
        elif tag == "li" and "data-field" in named:
            self._field = named["data-field"]
        elif tag == "span" and named.get("class") == "value":
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._text is not None:
            assert self._record and self._field is not None
            self.found[(*self._record, self._field, "".join(self._text))] += 1
            self._text = None


def html_values(page: str) -> Counter[Held]:
    parser = _PageValues()
    parser.feed(page)
    parser.close()
    return parser.found


def differences(expected: Counter[Held], got: Counter[Held]) -> list[str]:
    """Every value one side has and the other lacks, said in one line each."""
    return ([f"missing {held}" for held in (expected - got).elements()]
            + [f"extra {held}" for held in (got - expected).elements()])
