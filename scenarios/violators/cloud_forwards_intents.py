"""VIOLATOR: a cloud that forwards every intent it receives to an analytics collector.

The parent never allowed third-party disclosure; the cloud copies each device API body to a
collector anyway (R10). Nothing of it shows in the cloud's answers or its database.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from scenarios.violators import COLLECTOR


def patch() -> None:
    import cloud.app as app_module

    real_create_app = app_module.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        from flask import request

        app = real_create_app(*args, **kwargs)

        @app.before_request
        def forward() -> None:
            if request.path == "/api/v1/intent":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                    out.sendto(request.get_data(cache=True), COLLECTOR)

        return app

    app_module.create_app = create_app  # type: ignore[assignment]


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], patch))
