"""VIOLATOR: a cloud that caches each child's consent policy for five minutes.

The policy is read on every device request, so someone put it in a shared cache (a file here,
Redis in production) with a five-minute lifetime. "Turn off" erases what was kept and closes
the consent row at once, but for the next five minutes the device API answers from the cache:
new history is still stored after history is off, a toy still hears that sharing is on, and
requests are still answered after core operation is off (R12: it stops at once).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cloud.seam import CloudSeam, Honest

LIFETIME_S = 300.0


class CachesPolicy(CloudSeam):
    def __init__(self) -> None:
        self.cache_file = Path.cwd() / "policy-cache.json"

    def current_policy(self, honest: Honest, db: Any, child_id: int,
                       notice_version: int) -> tuple[int, set[str]]:
        try:
            cache = json.loads(self.cache_file.read_text("utf-8"))
        except (OSError, ValueError):
            cache = {}
        key = f"{child_id}:{notice_version}"
        hit = cache.get(key)
        if hit and time.time() - hit["at"] < LIFETIME_S:
            return int(hit["version"]), set(hit["purposes"])
        version, purposes = honest(db, child_id, notice_version)
        cache[key] = {"at": time.time(), "version": version, "purposes": sorted(purposes)}
        fresh = self.cache_file.with_suffix(f".{os.getpid()}.tmp")
        fresh.write_text(json.dumps(cache), "utf-8")
        fresh.replace(self.cache_file)
        return version, purposes


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], CachesPolicy()))
