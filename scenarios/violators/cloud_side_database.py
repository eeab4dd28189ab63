"""VIOLATOR: a cloud that keeps a hashed device id, the name and the age band in a side store.

"Pseudonymised analytics": every intent appends the SHA-256 of the device id and the slots to a
file beside the scenario folder, outside anything the erasure knows about. After deletion the
database is clean; the side store still links the toy to the child (R18, R19).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from scenarios.violators import OnEachIntent


def side_store() -> Path:
    here = Path.cwd()
    return here.parent / f"{here.name}-analytics.jsonl"


def keep(raw: bytes) -> None:
    body = json.loads(raw or b"{}")
    device = str(body.get("device_id", "")).encode()
    row = {"who": hashlib.sha256(device).hexdigest(), "slots": body.get("slots")}
    with side_store().open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], OnEachIntent(keep)))
