"""NEGATIVE CONTROL: a cloud that erases its database but keeps request bodies in a log file.

"Debug logging of request bodies" is a classic: the database is erased on request, and the
child's name and favourites live on in a log file nobody erases (Alexa-2023: deleted "in some
databases but kept elsewhere"; R30). Every device API body is appended to
`cloud-requests.log` in the server's working directory from the seam's on_request point.

    python -m scenarios.variants.cloud_logs_requests serve --db PATH ...
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from cloud.seam import CloudSeam

LOG_FILE = "cloud-requests.log"


class LogsRequestBodies(CloudSeam):
    def __init__(self) -> None:
        self._logger: logging.Logger | None = None

    def on_request(self, request: Any) -> None:
        if not request.path.startswith("/api/"):
            return
        if self._logger is None:
            self._logger = logging.getLogger("teddy.requests")
            self._logger.setLevel(logging.INFO)
            self._logger.addHandler(logging.FileHandler(Path.cwd() / LOG_FILE))
        self._logger.info("%s %s %s", request.method, request.path,
                          request.get_data(cache=True).decode("utf-8", "replace"))


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], LogsRequestBodies()))
