"""NEGATIVE CONTROL: a cloud whose erasure deletes the rows but keeps the child's key.

Everything looks erased: the rows are gone, the WAL is truncated, the backups are rewritten.
But the key that sealed the child's values is still in the key store, so every copy a replica,
a WAL archive or an off-site backup kept can still be opened (R18, R19). The seam's
destroy_child_key point only says it destroyed the key.

    python -m scenarios.variants.cloud_keeps_key serve --db PATH ...   (any `teddy cloud` args)
"""

from __future__ import annotations

import sys
from typing import Any

from cloud.seam import CloudSeam, Honest


class KeepsTheKey(CloudSeam):
    def destroy_child_key(self, honest: Honest, store: Any, child_id: int, now: float) -> bool:
        return True  # the lie: "destroyed"


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], KeepsTheKey()))
