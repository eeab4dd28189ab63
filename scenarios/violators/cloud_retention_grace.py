"""VIOLATOR: a cloud whose purge keeps records half a day past their retention.

"Purge by calendar day" is a common shortcut: the purge compares dates, not instants, so a
record lives up to a day longer than the notice promises (R16). Only a check just after the
limit, in minutes, can tell; one a day later passes.
"""

from __future__ import annotations

import sys
from typing import Any

from cloud.seam import CloudSeam, Honest

GRACE_S = 12 * 3600


class PurgesByCalendarDay(CloudSeam):
    def purge_expired(self, honest: Honest, db: Any, now: float, **options: Any) -> Any:
        return honest(db, now - GRACE_S, **options)


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], PurgesByCalendarDay()))
