"""The start every wrk-driven benchmark command shares: refuse bad options and a missing wrk
with one line and exit 2, then work in the asked-for folder or a temporary one."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from cloud.bench.load import LoadGeneratorError, require_wrk


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
