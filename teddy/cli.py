"""The one command-line entry point, `teddy`; each area registers its own commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="teddy", description="Teddy: a privacy-first connected-toy testbed."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    import cloud.cli
    import device.cli
    import scenarios.cli
    import teddy.bench
    import teddy.demo

    teddy.demo.register(sub)
    device.cli.register(sub)
    device.cli.register_models(sub)
    cloud.cli.register(sub)
    scenarios.cli.register(sub)
    teddy.bench.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
