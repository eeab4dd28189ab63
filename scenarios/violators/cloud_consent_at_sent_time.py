"""VIOLATOR: a cloud that judges a message by the consent in force when the toy composed it.

"Honour what was queued offline": a toy that was offline sends its messages later, so this
cloud looks up which purposes were on at the message's own `sent_at`, not at the moment it
arrives. A name the child said before the parent withdrew personalisation is accepted and
kept after the withdrawal (R12, R31: the toy's word about time decides the consent).
"""

from __future__ import annotations

import sys
import threading
from typing import Any


def patch() -> None:
    import cloud.device_api.routes as routes

    real_answer, real_policy = routes._answer, routes._policy
    composed = threading.local()

    def answer(db: Any, device: Any, message: Any, now: float) -> Any:
        composed.at = message.sent_at
        try:
            return real_answer(db, device, message, now)
        finally:
            composed.at = None

    def policy_when_composed(db: Any, child_id: int) -> dict[str, Any]:
        current = real_policy(db, child_id)
        at = getattr(composed, "at", None)
        if at is None:
            return current
        rows = db.execute("SELECT purpose FROM consents WHERE child_id = ? AND granted_at <= ? "
                          "AND (revoked_at IS NULL OR revoked_at > ?)",
                          [child_id, at, at]).fetchall()
        return {"version": current["version"], "purposes": sorted({r[0] for r in rows})}

    routes._answer = answer  # type: ignore[assignment]
    routes._policy = policy_when_composed  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
