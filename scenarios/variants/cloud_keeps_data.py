"""NEGATIVE CONTROL: a cloud whose retention purge does nothing.

Data past its retention period stays (R16) and inactive profiles live for ever (R21), while
the purge reports that it ran. The real purge is swapped at start-up for a no-op.

    python -m scenarios.variants.cloud_keeps_data purge --db PATH ...   (any `teddy cloud` args)
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqlite_utils


def keep_everything(db: sqlite_utils.Database, now: float, *, inactive_profile_days: int = 180,
                    backup_dir: str | Path | None = None, checkpoint: bool = True) -> object:
    from cloud.retention.purge import PurgeReport

    return PurgeReport(now=now)


def patch() -> None:
    import cloud.retention.purge as purge

    purge.purge_expired = keep_everything  # type: ignore[assignment]
    purge.delete_expired = lambda db, now: {}  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
