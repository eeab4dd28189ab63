"""Log lines a client cannot forge: control characters are escaped in everything logged.

A path like `/x%0A[2026-01-01 00:00:00] [CRITICAL] all data deleted` reaches the logs decoded,
newline and all; written as it is, it would look like a line the server wrote. Every record
the server process writes (gunicorn's error and access logs and the app's own loggers) goes
through `EscapingFormatter`, which writes control characters as escapes (`\\n`, `\\x1b`), and
indents the lines of a traceback, so that a new unindented line is always a new record.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
APP_LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"
                                             if ord(m.group()) < 0x100
                                             else f"\\u{ord(m.group()):04x}"), text)


class EscapingFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        lines = super().formatException(ei).splitlines()
        return "\n".join("    | " + _CONTROL.sub("?", line) for line in lines)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return "\n".join("    | " + _CONTROL.sub("?", line) for line in stack_info.splitlines())

    @classmethod
    def like(cls, formatter: logging.Formatter | None) -> EscapingFormatter:
        if formatter is None:
            return cls()
        return cls(formatter._fmt, formatter.datefmt)  # noqa: SLF001 (copying its settings)


class EscapingLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger, with every handler it sets up writing escaped lines; it also gives
    the app's own loggers (which otherwise reach stderr unformatted) one escaping handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(EscapingFormatter.like(handler.formatter))
        root = logging.getLogger()
        if not any(isinstance(h.formatter, EscapingFormatter) for h in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(EscapingFormatter(APP_LOG_FORMAT, self.datefmt))
            root.addHandler(handler)
