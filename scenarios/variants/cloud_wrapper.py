"""Run a `teddy cloud` command (serve, purge, verify-erasure...) after a variant's patch.

The patch is applied before the cloud's command-line and application modules are imported,
so every `from ... import name` in the cloud binds the variant's function, exactly as if the
cloud had been written that way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def run_cloud_command(argv: Sequence[str], patch: Callable[[], None]) -> int:
    patch()
    import cloud.cli

    parser = argparse.ArgumentParser(prog="teddy-cloud-variant")
    sub = parser.add_subparsers(dest="command", required=True)
    cloud.cli.register(sub)
    args = parser.parse_args(["cloud", *argv])
    return int(args.handler(args) or 0)
