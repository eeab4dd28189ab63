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
from typing import Any


def side_store() -> Path:
    here = Path.cwd()
    return here.parent / f"{here.name}-analytics.jsonl"


def patch() -> None:
    import cloud.app as app_module

    real_create_app = app_module.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        from flask import request

        app = real_create_app(*args, **kwargs)

        @app.before_request
        def keep() -> None:
            if request.path != "/api/v1/intent":
                return
            body = json.loads(request.get_data(cache=True) or b"{}")
            device = str(body.get("device_id", "")).encode()
            row = {"who": hashlib.sha256(device).hexdigest(), "slots": body.get("slots")}
            with side_store().open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")

        return app

    app_module.create_app = create_app  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
