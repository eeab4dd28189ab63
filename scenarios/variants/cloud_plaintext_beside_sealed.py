"""NEGATIVE CONTROL: a cloud that seals each child value and keeps it in plain text beside it.

The classic shortcut of "encrypted, but searchable": every value is sealed with the child's
key as it should be, and a copy goes in plain text into a lookup table next to it, so
destroying the key erases nothing and a backup holds the child's name for anyone (R19). The
seam's seal_value point seals, then keeps the copy.

    python -m scenarios.variants.cloud_plaintext_beside_sealed serve --db PATH ...
"""

from __future__ import annotations

import sys
from typing import Any

from cloud.seam import CloudSeam, Honest

LOOKUP_TABLE = "sealed_lookup"


class KeepsPlaintextBesideSealed(CloudSeam):
    def seal_value(self, honest: Honest, db: Any, child_id: int, table: str, column: str,
                   value: str | None, now: float | None = None) -> str | None:
        sealed = honest(db, child_id, table, column, value, now)
        if value is not None:
            db.execute(f"CREATE TABLE IF NOT EXISTS {LOOKUP_TABLE} (child_id INTEGER, "
                       "field TEXT, value TEXT)")
            db.execute(f"INSERT INTO {LOOKUP_TABLE} (child_id, field, value) VALUES (?, ?, ?)",
                       [child_id, f"{table}.{column}", value])
        return sealed


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], KeepsPlaintextBesideSealed()))
