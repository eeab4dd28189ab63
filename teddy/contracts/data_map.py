"""Typed access to data_map.yaml, the one declaration of what Teddy holds and why."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

Leaves = Literal["never", "with_purpose"]
# The one way a column can be sealed: with the key of the child the row is about.
SEALED = "child_key"


@dataclass(frozen=True)
class Purpose:
    name: str
    title: str
    notice: str
    retention_days: int
    requires_consent: bool


@dataclass(frozen=True)
class SlotRule:
    name: str
    category: str
    purpose: str
    leaves_toy: Leaves

    @property
    def is_personal(self) -> bool:
        return data_map().categories[self.category]["personal"]


@dataclass(frozen=True)
class ColumnEntry:
    table: str
    column: str
    category: str
    purpose: str
    legal_basis: str


@dataclass(frozen=True)
class DataMap:
    purposes: dict[str, Purpose]
    categories: dict[str, dict[str, Any]]
    slots: dict[str, SlotRule]
    local_only_intents: frozenset[str]
    tables: dict[str, dict[str, Any]]

    @property
    def consentable_purposes(self) -> list[str]:
        return [name for name, p in self.purposes.items() if p.requires_consent]

    def columns(self) -> list[ColumnEntry]:
        return [
            ColumnEntry(table, column, spec["category"], spec["purpose"], spec["legal_basis"])
            for table, table_spec in self.tables.items()
            for column, spec in table_spec["columns"].items()
        ]

    def sealed_columns(self) -> dict[str, tuple[str, ...]]:
        """Table -> columns stored only sealed with the child's own key (`sealed: child_key`)."""
        sealed: dict[str, tuple[str, ...]] = {}
        for table, spec in self.tables.items():
            columns = tuple(c for c, s in spec["columns"].items() if s.get("sealed") == SEALED)
            if columns:
                sealed[table] = columns
        return sealed

    def retention_days(self, table: str) -> int:
        return int(self.tables[table]["retention"]["days"])

    def kept_because(self, table: str) -> str | None:
        """Why a table's records are kept, in a parent's words, where the map says so: the
        one wording every page giving that reason shows."""
        reason = self.tables[table]["retention"].get("kept_because")
        return " ".join(reason.split()) if reason else None

    def purposes_needed(self, slots: dict[str, object]) -> set[str]:
        """Purposes a message with these slots serves: answering is `core`, slots add theirs."""
        needed = {"core"}
        for slot in slots:
            rule = self.slots[slot]
            if rule.purpose != "none":
                needed.add(rule.purpose)
        return needed


def _load(raw: dict[str, Any]) -> DataMap:
    purposes = {
        name: Purpose(
            name=name,
            title=spec["title"],
            notice=" ".join(spec["notice"].split()),
            retention_days=int(spec["retention_days"]),
            requires_consent=bool(spec["requires_consent"]),
        )
        for name, spec in raw["purposes"].items()
    }
    slots = {
        name: SlotRule(name, spec["category"], spec["purpose"], spec["leaves_toy"])
        for name, spec in raw["slots"].items()
    }
    for rule in slots.values():
        if rule.category not in raw["categories"]:
            raise ValueError(f"slot {rule.name!r} names unknown category {rule.category!r}")
        if rule.purpose != "none" and rule.purpose not in purposes:
            raise ValueError(f"slot {rule.name!r} names unknown purpose {rule.purpose!r}")
    for table, spec in raw["tables"].items():
        for column, col in spec["columns"].items():
            if col["category"] not in raw["categories"] or col["purpose"] not in purposes:
                raise ValueError(f"{table}.{column}: unknown category or purpose")
            if col.get("sealed", SEALED) != SEALED:
                raise ValueError(f"{table}.{column}: sealed may only be {SEALED!r}")
    return DataMap(
        purposes=purposes,
        categories=raw["categories"],
        slots=slots,
        local_only_intents=frozenset(raw["local_only_intents"]),
        tables=raw["tables"],
    )


@cache
def data_map() -> DataMap:
    text = resources.files("teddy.contracts").joinpath("data_map.yaml").read_text("utf-8")
    return _load(yaml.safe_load(text))
