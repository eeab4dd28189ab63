"""VIOLATOR: a cloud that judges a message by the consent in force when the toy composed it.

"Honour what was queued offline": a toy that was offline sends its messages later, so this
cloud looks up which purposes were on at the message's own `sent_at`, not at the moment it
arrives. A name the child said before the parent withdrew personalisation is accepted and
kept after the withdrawal (R12, R31: the toy's word about time decides the consent).
"""

from __future__ import annotations

import sys
from typing import Any

from cloud.seam import CloudSeam, Honest


class ConsentWhenComposed(CloudSeam):
    def policy_for_message(self, honest: Honest, db: Any, child_id: int,
                           message: Any) -> dict[str, Any]:
        current = honest(db, child_id, message)
        at = message.sent_at
        rows = db.execute("SELECT purpose FROM consents WHERE child_id = ? AND granted_at <= ? "
                          "AND (revoked_at IS NULL OR revoked_at > ?)",
                          [child_id, at, at]).fetchall()
        return {"version": current["version"], "purposes": sorted({r[0] for r in rows})}


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], ConsentWhenComposed()))
