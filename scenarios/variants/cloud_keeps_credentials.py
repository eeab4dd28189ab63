"""NEGATIVE CONTROL: a cloud whose credential cache outlives the toy and the child.

A public voice-assistant back end kept refresh tokens after a device was removed. Here device
keys are cached in `device-credentials-cache.json` beside the server, and a device missing from
the database is still let in from the cache, so a deleted child's toy keeps working (R33).
The seam's verify_signature point does it.

    python -m scenarios.variants.cloud_keeps_credentials serve --db PATH ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cloud.seam import CloudSeam, Honest

CACHE_FILE = "device-credentials-cache.json"


def _cache() -> dict[str, Any]:
    path = Path.cwd() / CACHE_FILE
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


class CachesCredentials(CloudSeam):
    def verify_signature(self, honest: Honest, db: Any, request: Any, now: float) -> Any:
        import cloud.device_api.auth as auth
        from teddy.contracts import signing

        try:
            device = honest(db, request, now)
        except auth.AuthError as exc:
            remembered = _cache().get(str(request.headers.get(signing.HEADER_DEVICE, "")))
            if str(exc) != "unknown device" or remembered is None:
                raise
            headers = request.headers
            expected = signing.signature(remembered["secret"], request.method, request.path,
                                         headers[signing.HEADER_TIMESTAMP],
                                         headers[signing.HEADER_NONCE],
                                         request.get_data(cache=True))
            if not signing.signature_matches(expected, headers[signing.HEADER_SIGNATURE]):
                raise
            return auth.AuthenticatedDevice(device_id=headers[signing.HEADER_DEVICE],
                                            child_id=int(remembered["child_id"]),
                                            nonce=headers[signing.HEADER_NONCE])
        row = db.execute("SELECT secret FROM devices WHERE id = ?", [device.device_id]).fetchone()
        cache = _cache()
        cache[device.device_id] = {"secret": row[0], "child_id": device.child_id}
        (Path.cwd() / CACHE_FILE).write_text(json.dumps(cache), "utf-8")
        return device


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], CachesCredentials()))
