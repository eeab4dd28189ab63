"""NEGATIVE CONTROL: a cloud that takes the toy's word for what the parent consented to.

A public voice-assistant back end accepted uploads whenever the device said its owner had
opted in. Here the cloud adds whatever purposes a request's `X-Teddy-Consent` header claims to
the ones the parent actually granted (R31), at the seam's current_policy point.

    python -m scenarios.variants.cloud_trusts_toy_consent serve --db PATH ...
"""

from __future__ import annotations

import sys
from typing import Any

from cloud.seam import CloudSeam, Honest

CLAIM_HEADER = "X-Teddy-Consent"


class TrustsTheToysClaim(CloudSeam):
    def current_policy(self, honest: Honest, db: Any, child_id: int, notice_version: int
                       ) -> tuple[int, set[str]]:
        from flask import has_request_context, request

        version, purposes = honest(db, child_id, notice_version)
        if has_request_context():
            claimed = request.headers.get(CLAIM_HEADER, "")
            purposes = purposes | {p.strip() for p in claimed.split(",") if p.strip()}
        return version, purposes


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], TrustsTheToysClaim()))
