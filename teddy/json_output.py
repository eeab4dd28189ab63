"""The one JSON convention of the command line: `--json` prints to stdout, `--json-file` writes.

Commands that stream results (one per input) write JSON Lines; commands with one report write
one document. Either way stdout then holds only JSON, so it can be piped into `jq`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO


def add_json_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as JSON to stdout instead of text")
    parser.add_argument("--json-file", type=Path, metavar="PATH",
                        help=f"also write {what} as JSON to this file")


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "json_file", None))


class JsonSink:
    """Where a command's JSON goes: stdout, a file, both or neither."""

    def __init__(self, args: argparse.Namespace, stdout: TextIO | None = None) -> None:
        import sys

        self.stdout = (stdout or sys.stdout) if getattr(args, "json", False) else None
        self.path: Path | None = getattr(args, "json_file", None)
        self._file: TextIO | None = None

    def line(self, record: Any) -> None:
        """One record of a stream, as a JSON line."""
        text = json.dumps(record, ensure_ascii=False, sort_keys=True)
        if self.stdout is not None:
            print(text, file=self.stdout, flush=True)
        if self.path is not None:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("w", encoding="utf-8")
            self._file.write(text + "\n")

    def document(self, document: Any) -> None:
        """A whole report, as one indented JSON document."""
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if self.stdout is not None:
            print(text, file=self.stdout, flush=True)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text + "\n", "utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self.path is not None and not self.path.exists():
            # A stream with no records is still a valid (empty) JSON Lines file.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", "utf-8")

    def __enter__(self) -> JsonSink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
