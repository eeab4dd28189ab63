"""VIOLATOR: a cloud that forwards every intent it receives to an analytics collector.

The parent never allowed third-party disclosure; the cloud copies each device API body to a
collector anyway (R10). Nothing of it shows in the cloud's answers or its database.
"""

from __future__ import annotations

import socket
import sys

from scenarios.violators import COLLECTOR, OnEachIntent


def forward(body: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        out.sendto(body, COLLECTOR)


if __name__ == "__main__":
    from scenarios.variants.cloud_wrapper import run_cloud_command

    sys.exit(run_cloud_command(sys.argv[1:], OnEachIntent(forward)))
