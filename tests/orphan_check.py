"""The session-end check: the run fails if any process its tests started is still running.

A pytest plugin (tests/conftest.py loads it; tests/test_orphan_check.py loads it with
`-p orphan_check` into a planted run). Every pytest process makes itself a child subreaper, so
an orphan (a server left by a command that exited) is re-parented to the nearest pytest
process rather than to init. Under pytest-xdist a worker's processes are the worker's
descendants; when the worker exits, whatever it left is re-parented to the controller. So the
check runs once, in the controller (or the only process of a serial run), after xdist has shut
its workers down, over the controller's own descendants: never over the whole machine, where
other runs' servers live.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from process_helpers import become_subreaper, left_running, stop_all

GRACE_OPTION = "orphan_grace_seconds"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(GRACE_OPTION, "seconds the end-of-run check waits for processes already "
                  "shutting down before it counts them as left running", default="5")


def pytest_configure(config: pytest.Config) -> None:
    become_subreaper()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    # After the yield every other sessionfinish hook has run, xdist's shutdown of its workers
    # among them, so a worker's leftovers have been re-parented here.
    yield
    if hasattr(session.config, "workerinput"):
        return
    leaked = left_running(grace_seconds=float(session.config.getini(GRACE_OPTION)))
    if not leaked:
        return
    lines = [f"{len(leaked)} process(es) started by the tests were still running at the end "
             "(killed now):", *(f"  {info}" for info in leaked)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True, bold=True)
    stop_all(leaked)
    if session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
