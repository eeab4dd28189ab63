"""Violators: toys and clouds written to break a rule the way a real product might, without
looking at which check would notice (issue 25's violation classes). Each is a negative control
beside scenarios/variants/; the stories that run them are scenarios/catalogue/7*.yaml and
8*.yaml, and the report gives detection per class (classes.py). The collector they send to is
a UDP port on loopback that nobody listens on: the bytes still leave the process, which is
what the egress observer records.
"""

from collections.abc import Callable
from typing import Any

COLLECTOR = ("127.0.0.1", 8125)


def on_each_intent(handle: Callable[[bytes], None]) -> None:
    """Make Teddy's cloud call `handle` with every intent body it receives, before answering:
    what a cloud's hidden side channel would see. Applied before the app is created."""
    import cloud.app as app_module

    real_create_app = app_module.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        from flask import request

        app = real_create_app(*args, **kwargs)

        @app.before_request
        def side_channel() -> None:
            if request.path == "/api/v1/intent":
                handle(request.get_data(cache=True))

        return app

    app_module.create_app = create_app  # type: ignore[assignment]
