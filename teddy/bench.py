"""`teddy bench ...`: benchmarks that print figures, each ending with one JSON line.

Every benchmark also takes the usual `--json` / `--json-file`: with them the figures as text
go to stderr and stdout holds only the benchmark's JSON summary (its last line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from teddy.json_output import JsonSink, add_json_options, wants_json

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    import cloud.bench
    import cloud.bench.crypto_cost
    import cloud.bench.fleet
    import cloud.bench.photos
    import cloud.bench.slow_clients
    import cloud.retention.bench
    import device.bench

    bench = subparsers.add_parser("bench", help="run a benchmark and print its figures")
    sub = bench.add_subparsers(dest="bench_command", required=True)
    cloud.bench.register_bench(sub)
    cloud.bench.fleet.register_bench(sub)
    cloud.bench.photos.register_bench(sub)
    cloud.bench.crypto_cost.register_bench(sub)
    cloud.bench.slow_clients.register_bench(sub)
    cloud.retention.bench.register_bench(sub)
    device.bench.register_bench(sub)
    for parser in sub.choices.values():
        add_json_options(parser, "the benchmark's summary")
        parser.set_defaults(handler=_json_summary(parser.get_default("handler")))


class _LastLine:
    """A text stream that passes everything on to `through` and keeps the last line written."""

    def __init__(self, through: TextIO) -> None:
        self.through = through
        self.last = ""
        self._partial = ""

    def write(self, text: str) -> int:
        self.through.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if any(line.strip() for line in lines):
            self.last = next(line for line in reversed(lines) if line.strip())
        return len(text)

    def flush(self) -> None:
        self.through.flush()


def _json_summary(run: Handler) -> Handler:
    def run_with_json(args: argparse.Namespace) -> int:
        if not wants_json(args):
            return run(args)
        text = _LastLine(sys.stderr)
        with contextlib.redirect_stdout(text):  # type: ignore[type-var]
            status = run(args)
        try:
            summary: Any = json.loads(text.last)
        except ValueError:
            return status  # the benchmark stopped before its summary; it said why on stderr
        with JsonSink(args) as sink:
            sink.document(summary)
        return status

    return run_with_json
