"""Violators: toys and clouds written to break a rule the way a real product might, without
looking at which check would notice (issue 25's violation classes). Each is a negative control
beside scenarios/variants/; the stories that run them are scenarios/catalogue/7*.yaml and
8*.yaml, and the report gives detection per class (classes.py). The collector they send to is
a UDP port on loopback that nobody listens on: the bytes still leave the process, which is
what the egress observer records.
"""

from collections.abc import Callable
from typing import Any

from cloud.seam import CloudSeam

COLLECTOR = ("127.0.0.1", 8125)


class OnEachIntent(CloudSeam):
    """Teddy's cloud, calling `handle` with every intent body it receives before answering:
    what a cloud's hidden side channel would see (the seam's on_request point)."""

    def __init__(self, handle: Callable[[bytes], None]) -> None:
        self.handle = handle

    def on_request(self, request: Any) -> None:
        if request.path == "/api/v1/intent":
            self.handle(request.get_data(cache=True))
