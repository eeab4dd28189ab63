"""No client can forge a log line (issue 26, item 6): control characters a request carries are
escaped in every line the server writes, through gunicorn's real logger and handlers.

The negative control is gunicorn's own logger, which writes the forged line as it came.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger as GunicornLogger

from cloud.server import gunicorn_options
from cloud.server_logging import EscapingFormatter, EscapingLogger, escape_controls

FORGED = "[2026-01-01 00:00:00 +0000] [1] [CRITICAL] every child's data was deleted"
PATH = "/parent/reset/x\n" + FORGED
RECORD_START = re.compile(r"^(\[\d{4}-\d\d-\d\d |    \| )")


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Takes away the handler EscapingLogger gives the root logger, whatever else comes and goes."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, EscapingFormatter):
            root.removeHandler(handler)


def _log_through(logger_class: type[GunicornLogger], tmp_path: Path) -> list[str]:
    log_file = tmp_path / f"{logger_class.__name__}.log"
    config = Config()
    config.set("errorlog", str(log_file))
    config.set("loglevel", "info")
    logger = logger_class(config)
    logger.error("Invalid request path %s", PATH)
    try:
        raise ValueError("bad token " + PATH)
    except ValueError:
        logger.exception("unhandled error on POST %s", PATH)
    for handler in logger.error_log.handlers:
        handler.flush()
    return log_file.read_text().splitlines()


def test_every_line_gunicorn_writes_starts_a_real_record(tmp_path: Path,
                                                         root_handlers: None) -> None:
    lines = _log_through(EscapingLogger, tmp_path)
    assert all(RECORD_START.match(line) for line in lines), lines
    assert not any(line.startswith(FORGED) for line in lines)
    assert any("x\\n[2026-01-01" in line for line in lines)


def test_negative_control_gunicorns_own_logger_writes_the_forged_line(tmp_path: Path) -> None:
    lines = _log_through(GunicornLogger, tmp_path)
    assert any(line.startswith(FORGED) for line in lines)


APP_LOGS = """
import logging, sys
from gunicorn.config import Config
from cloud.server_logging import EscapingLogger
config = Config()
config.set("errorlog", sys.argv[1])
EscapingLogger(config)
# What cloud.errors writes when it answers 503 to a request.
logging.getLogger("cloud.errors").warning("answered 503 (busy) to %s %s: %s", "POST",
                                          sys.argv[2], "database is locked")
"""


def test_the_apps_own_loggers_are_escaped_too(tmp_path: Path) -> None:
    # A process of its own: the logging set-up is process-wide, as in a server worker.
    done = subprocess.run([sys.executable, "-c", APP_LOGS, str(tmp_path / "error.log"), PATH],
                          capture_output=True, text=True, timeout=60, check=True)
    written = done.stderr.splitlines()
    assert len(written) == 1 and "x\\n[2026" in written[0], written


def test_the_server_runs_with_the_escaping_logger() -> None:
    options = gunicorn_options(host="127.0.0.1", port=1, workers=1, db_path="x.db")
    assert options["logger_class"] == "cloud.server_logging.EscapingLogger"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("\x1b[31mred", "\\x1b[31mred"),
    ("line\u2028sep", "line\\u2028sep"), ("plain ünïcode", "plain ünïcode"),
])
def test_control_characters_are_written_as_escapes(raw: str, escaped: str) -> None:
    assert escape_controls(raw) == escaped
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (raw,), None)
    assert EscapingFormatter("%(message)s").format(record) == escaped
