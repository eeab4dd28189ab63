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
    import teddy.demo

    cloud.cli.register(sub)
    teddy.demo.register(sub)
    _register_optional(sub)
    return parser


def _register_optional(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    import importlib

    for module_name in ("device.cli", "scenarios.cli", "teddy.bench"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        module.register(sub)
        if module_name == "device.cli":
            module.register_models(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
