"""VIOLATOR: the verification vendor's sandbox mode left on in production.

Every method's page looks right and every consent record names its method, time and notice
version. But in sandbox mode the checks accept whatever they are given: any card number, any
answers, any picture as an ID or a face, any file as a signed form, any code or link from the
text, call or e-mail (R08: the method must verify the parent, not just be named).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

SANDBOXED = {"check_card": "payment_card", "check_kba": "knowledge_questions",
             "check_government_id": "government_id", "check_face_match": "face_match",
             "check_signed_form": "signed_form"}


def patch() -> None:
    import cloud.parent_web.challenges as challenges
    import cloud.parent_web.consent_pages as pages
    import cloud.parent_web.verification as verification

    def accepted(method: str) -> Any:
        return lambda *_args, **_kwargs: verification.Outcome(method, ("Verified.",))

    # The sandbox switch sits where the pages call the vendor, for every instant method.
    for name, method in SANDBOXED.items():
        setattr(pages, name, accepted(method))
    challenges.hmac = SimpleNamespace(compare_digest=lambda _a, _b: True)  # type: ignore


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
