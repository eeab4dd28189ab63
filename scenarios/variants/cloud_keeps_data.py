"""NEGATIVE CONTROL: a cloud whose retention purge does nothing.

Data past its retention period stays (R16) and inactive profiles live for ever (R21), while
the purge reports that it ran. The seam's purge points
(purge_expired, delete_expired) do nothing.

    python -m scenarios.variants.cloud_keeps_data purge --db PATH ...   (any `teddy cloud` args)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud.seam import CloudSeam, Honest


def keep_everything(db: sqlite_utils.Database, now: float, *, inactive_profile_days: int = 180,
                    backup_dir: str | Path | None = None, checkpoint: bool = True) -> object:
    from cloud.retention.purge import PurgeReport

    return PurgeReport(now=now)


class PurgesNothing(CloudSeam):
    def purge_expired(self, honest: Honest, db: Any, now: float, **options: Any) -> object:
        return keep_everything(db, now, **options)

    def delete_expired(self, honest: Honest, db: Any, now: float, **options: Any
                       ) -> tuple[dict[str, int], bool]:
        return {}, False


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], PurgesNothing()))
