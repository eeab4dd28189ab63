"""Run a `teddy cloud` command (serve, purge, verify-erasure...) as a negative control.

The variant's seam (cloud/seam.py) is installed for the testbed first, then the command runs
exactly as `teddy cloud` would run it; server workers fork with the seam in place.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cloud.seam import CloudSeam, install


def run_cloud_command(argv: Sequence[str], variant: CloudSeam) -> int:
    install(variant, testbed=True)
    import cloud.cli

    parser = argparse.ArgumentParser(prog="teddy-cloud-variant")
    sub = parser.add_subparsers(dest="command", required=True)
    cloud.cli.register(sub)
    args = parser.parse_args(["cloud", *argv])
    return int(args.handler(args) or 0)
