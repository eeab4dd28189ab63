"""Sealing the plaintext an older database holds in columns the data map now seals.

Run once, as schema step v9, inside the migration's transaction: each sealed column's values
that are not yet sealed are sealed with their child's key, which is made on the way. Rows that
are already sealed are left alone, so a half-applied upgrade (impossible inside one
transaction, but cheap to allow) would simply continue.
"""

from __future__ import annotations

import sqlite_utils

from cloud.keys.envelope import is_sealed
from cloud.keys.fields import child_of, seal_value
from teddy.contracts.data_map import data_map

KEY_COLUMNS = {"children": "id"}


def seal_plaintext(db: sqlite_utils.Database, now: float) -> dict[str, int]:
    """Seal every unsealed value in a sealed column; returns how many per table.column."""
    live = set(db.table_names())
    sealed: dict[str, int] = {}
    for table, columns in data_map().sealed_columns().items():
        if table not in live:
            continue
        owner = KEY_COLUMNS.get(table, "child_id")
        present = {c.name for c in db[table].columns}
        # A column a later schema step adds holds nothing to seal yet: it is born sealed.
        for column in (c for c in columns if c in present):
            # Rows are found by owner and value, not by an id: not every table has one
            # (processed_messages is keyed by device and message id).
            rows = db.execute(f'SELECT DISTINCT "{owner}", "{column}" FROM "{table}" '
                              f'WHERE "{column}" IS NOT NULL').fetchall()
            count = 0
            for child, value in rows:
                if is_sealed(value):
                    continue
                child_id = child_of(table, {"id": child, "child_id": child})
                count += db.execute(
                    f'UPDATE "{table}" SET "{column}" = ? WHERE "{owner}" = ? AND "{column}" = ?',
                    [seal_value(db, child_id, table, column, str(value), now), child,
                     value]).rowcount
            sealed[f"{table}.{column}"] = count
    return sealed
