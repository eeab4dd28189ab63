"""VIOLATOR: the verification vendor's sandbox mode left on in production.

Every method's page looks right and every consent record names its method, time and notice
version. But in sandbox mode the checks accept whatever they are given: any card number, any
answers, any picture as an ID or a face, any file as a signed form, any code or link from the
text, call or e-mail (R08: the method must verify the parent, not just be named).
"""

from __future__ import annotations

import sys

from cloud.parent_web.verification import Outcome
from cloud.seam import CloudSeam, Honest

SANDBOXED = frozenset({"payment_card", "knowledge_questions", "government_id", "face_match",
                       "signed_form"})


class VendorSandbox(CloudSeam):
    # The sandbox switch sits where the pages call the vendor, for every instant method.
    def verification_outcome(self, honest: Honest, method: str) -> Outcome:
        return Outcome(method, ("Verified.",)) if method in SANDBOXED else honest(method)

    def challenge_code_matches(self, honest: Honest, secret: str, stored_digest: str) -> bool:
        return True


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], VendorSandbox()))
