"""What every wrk-driven benchmark command shares: its round options, and its start (refuse bad
options and a missing wrk with one line and exit 2, then work in the asked-for folder or a
temporary one)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from cloud.bench.load import LoadGeneratorError, require_wrk


def add_round_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=5,
                        help="length of each measured round per target")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating measured rounds per target, to even out drift")
    parser.add_argument("--warmup", type=int, default=1,
                        help="seconds of unmeasured load per target first (0: none)")


def run_with_wrk(command: str, problem: str | None, args: argparse.Namespace,
                 body: Callable[[Path, argparse.Namespace], int], prefix: str) -> int:
    if problem:
        print(f"{command}: {problem}", file=sys.stderr)
        return 2
    try:
        require_wrk()
    except LoadGeneratorError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        return body(Path(args.dir), args)
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        return body(Path(directory), args)
