"""NEGATIVE CONTROL: a cloud whose "Turn off" stops new data but keeps what it already holds.

This is the flaw FTC v. Amazon (2023) describes and a public voice-assistant back end shipped:
withdrawing consent closed the agreement and kept the recordings. The consent is revoked as
usual; the seam's erase_kept_for point (what was kept for the purpose) erases nothing (R12,
R29).

    python -m scenarios.variants.cloud_revoke_keeps_data serve --db PATH ...
"""

from __future__ import annotations

import sys
from typing import Any

import sqlite_utils

from cloud.seam import CloudSeam, Honest


def erase_nothing(db: sqlite_utils.Database, *, child_id: int, purpose: str) -> dict[str, int]:
    return {}


class RevokeErasesNothing(CloudSeam):
    def erase_kept_for(self, honest: Honest, db: Any, *, child_id: int, purpose: str
                       ) -> dict[str, int]:
        return erase_nothing(db, child_id=child_id, purpose=purpose)


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], RevokeErasesNothing()))
