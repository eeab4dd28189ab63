"""Retention as the data map declares it, turned into what the purge and erasure act on (R15).

Nothing here hard-codes a period: every figure comes from `teddy/contracts/data_map.yaml`, so
changing the map changes what the cloud keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sqlite_utils

from teddy.contracts.data_map import DataMap, data_map

DAY_S = 86400.0
# Tables the erasure of a child reaches through the child's devices rather than a child_id.
DEVICE_KEY = "device_id"
CHILD_KEY = "child_id"


@dataclass(frozen=True)
class TableRetention:
    table: str
    purpose: str
    days: int
    categories: frozenset[str]

    @property
    def seconds(self) -> float:
        return self.days * DAY_S


@cache
def table_retention() -> dict[str, TableRetention]:
    dm = data_map()
    result: dict[str, TableRetention] = {}
    for table, spec in dm.tables.items():
        days = int(spec["retention"]["days"])
        if days <= 0 and table != "schema_migrations":
            # A table of stored rows with no retention would keep them forever or never (R15).
            raise ValueError(f"data map: table {table!r} needs a positive retention in days")
        categories = frozenset(col["category"] for col in spec["columns"].values())
        result[table] = TableRetention(table, spec["retention"]["purpose"], days, categories)
    return result


def retention_s(table: str) -> float:
    return table_retention()[table].seconds


def holds_personal_data(table: str, dm: DataMap | None = None) -> bool:
    dm = dm or data_map()
    return any(dm.categories[c]["personal"] for c in table_retention()[table].categories)


def backup_retention_days() -> int:
    """A backup may live no longer than the shortest-kept personal data it can contain.

    Past that age every personal row a backup was taken with has expired in the live
    database, so the backup would be the only place still holding it (R16, R19).
    """
    personal = [r.days for t, r in table_retention().items()
                if holds_personal_data(t) and _about_children(r)]
    return min(personal)


def _about_children(retention: TableRetention) -> bool:
    return any(c.startswith("child.") for c in retention.categories)


@dataclass(frozen=True)
class ErasePlan:
    """How to reach one child's rows in each table, in an order the foreign keys accept."""

    by_device: tuple[str, ...]   # tables keyed by the child's device ids only
    by_child: tuple[str, ...]    # tables with a child_id column
    root: str = "children"

    @property
    def tables(self) -> tuple[str, ...]:
        return (*self.by_device, *self.by_child, self.root)


def erase_plan(db: sqlite_utils.Database) -> ErasePlan:
    """Read the live schema, so a table added later cannot be missed; the data map must know it.

    Any table with a child_id column holds child data; any table keyed only by device_id holds
    data about the child's toys. A live table the data map does not declare stops the erasure:
    better refuse than leave an undeclared copy behind (R15, R18).
    """
    known = data_map().tables
    by_child: list[str] = []
    by_device: list[str] = []
    for table in db.table_names():
        if table.startswith("sqlite_"):
            continue
        if table not in known:
            raise ValueError(f"table {table!r} is not declared in the data map; refusing to "
                             "erase with an undeclared store in place")
        columns = {c.name for c in db[table].columns}
        if CHILD_KEY in columns:
            by_child.append(table)
        elif DEVICE_KEY in columns:
            by_device.append(table)
    # Children's dependents before the devices table they may reference.
    by_child.sort(key=lambda t: (t == "devices", t))
    return ErasePlan(by_device=tuple(sorted(by_device)), by_child=tuple(by_child))
