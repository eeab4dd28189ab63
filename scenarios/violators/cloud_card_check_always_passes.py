"""VIOLATOR: a card "verification" that accepts any well-formed number.

The consent record says "payment_card", with its time and notice version, so a check that
reads only the method's name passes. But no number is ever declined: anyone can verify as the
parent (R08).
"""

from __future__ import annotations

import sys

from cloud.seam import CloudSeam, Honest


class AcceptsAnyCard(CloudSeam):
    def card_number_valid(self, honest: Honest, digits: str) -> bool:
        return True


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], AcceptsAnyCard()))
