"""VIOLATOR: an export written for the tables the product had at launch.

The parent's download lists the child's record, what Teddy remembered, the history, the
consents and the toy, each value with its category and purpose. Tables added later (the
request numbers kept per toy, pending verifications, the parent's messages about the child,
the audit entries about the child) are held but never exported (R22: every value).
"""

from __future__ import annotations

import sys
from typing import Any

from cloud.seam import CloudSeam, Honest

EXPORTED_AT_LAUNCH = frozenset({"children", "profile_facts", "intent_events", "consents",
                                "devices"})


class ExportsLaunchTables(CloudSeam):
    def export_document(self, honest: Honest, *args: Any, **kwargs: Any) -> dict[str, Any]:
        document = honest(*args, **kwargs)
        document["records"] = [r for r in document["records"]
                               if r.get("table") in EXPORTED_AT_LAUNCH]
        return document


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], ExportsLaunchTables()))
