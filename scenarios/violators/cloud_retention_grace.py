"""VIOLATOR: a cloud whose purge keeps records half a day past their retention.

"Purge by calendar day" is a common shortcut: the purge compares dates, not instants, so a
record lives up to a day longer than the notice promises (R16). Only a check just after the
limit, in minutes, can tell; one a day later passes.
"""

from __future__ import annotations

import sys
from typing import Any

GRACE_S = 12 * 3600


def patch() -> None:
    import cloud.retention.purge as purge

    real_purge = purge.purge_expired

    def purge_late(db: Any, now: float, **kwargs: Any) -> Any:
        return real_purge(db, now - GRACE_S, **kwargs)

    purge.purge_expired = purge_late  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
