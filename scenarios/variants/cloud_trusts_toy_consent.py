"""NEGATIVE CONTROL: a cloud that takes the toy's word for what the parent consented to.

A public voice-assistant back end accepted uploads whenever the device said its owner had
opted in. Here the cloud adds whatever purposes a request's `X-Teddy-Consent` header claims to
the ones the parent actually granted (R31).

    python -m scenarios.variants.cloud_trusts_toy_consent serve --db PATH ...
"""

from __future__ import annotations

import sys

import sqlite_utils

CLAIM_HEADER = "X-Teddy-Consent"


def patch() -> None:
    import cloud.consent as consent

    real_current_policy = consent.current_policy

    def current_policy(db: sqlite_utils.Database, child_id: int, notice_version: int
                       ) -> tuple[int, set[str]]:
        from flask import has_request_context, request

        version, purposes = real_current_policy(db, child_id, notice_version)
        if has_request_context():
            claimed = request.headers.get(CLAIM_HEADER, "")
            purposes = purposes | {p.strip() for p in claimed.split(",") if p.strip()}
        return version, purposes

    consent.current_policy = current_policy  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
