"""NEGATIVE CONTROL: a cloud that erases its database but keeps request bodies in a log file.

"Debug logging of request bodies" is a classic: the database is erased on request, and the
child's name and favourites live on in a log file nobody erases (Alexa-2023: deleted "in some
databases but kept elsewhere"; R30). Every device API body is appended to
`cloud-requests.log` in the server's working directory.

    python -m scenarios.variants.cloud_logs_requests serve --db PATH ...
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

LOG_FILE = "cloud-requests.log"


def patch() -> None:
    import cloud.app as app_module

    real_create_app = app_module.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        from flask import request

        app = real_create_app(*args, **kwargs)
        logger = logging.getLogger("teddy.requests")
        logger.setLevel(logging.INFO)
        logger.addHandler(logging.FileHandler(Path.cwd() / LOG_FILE))

        @app.before_request
        def log_body() -> None:
            if request.path.startswith("/api/"):
                logger.info("%s %s %s", request.method, request.path,
                            request.get_data(cache=True).decode("utf-8", "replace"))

        return app

    app_module.create_app = create_app  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
