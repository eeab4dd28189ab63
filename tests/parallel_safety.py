"""How the suite shares two (or more) cores between pytest-xdist workers.

bootstrap.sh runs the tiers with one xdist worker per core and `--dist loadgroup`. Two rules
live here (a plugin tests/conftest.py loads):

- Tests that use a module-scoped fixture (a server started once for the module's readers, a
  built wheel) run in one worker, as one xdist group named after the module: otherwise each
  worker would start the module's servers again.
- A test marked `alone("why")` has the machine to itself among this run's workers: it holds
  an exclusive lock while every other test holds a shared one, so the other worker waits
  between its tests (the locks live in the run's base temporary folder). It is for tests
  that time themselves against a bound or print figures; the reason says which. A turnstile
  lock lets a waiting `alone` test in before the next shared holder, so it is not starved.
  Serial runs (one core, or no xdist) take no locks.
"""

from __future__ import annotations

import fcntl
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "alone(reason): no other test of this run's xdist "
                            "workers runs at the same time; the reason says why")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: xdist reads the xdist_group marks in its own hook of the same name.
    for item in items:
        marker = item.get_closest_marker("alone")
        if marker is not None and (len(marker.args) != 1 or not str(marker.args[0]).strip()):
            raise pytest.UsageError(f"{item.nodeid}: alone() takes one reason, "
                                    'e.g. @pytest.mark.alone("asserts a load time")')
        if item.get_closest_marker("xdist_group") is None and _uses_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def _uses_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(definitions and definitions[-1].scope == "module"
               for definitions in info.name2fixturedefs.values())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if not hasattr(item.config, "workerinput"):
        return (yield)
    # The run's base temporary folder holds every worker's own (popen-gw0, ...): the locks
    # there are this run's, so a pytest run a test starts never waits on them.
    run_folder = item.config._tmp_path_factory.getbasetemp().parent  # type: ignore[attr-defined]
    with machine_share(item.get_closest_marker("alone") is not None,
                       run_folder / "tests-turnstile.lock", run_folder / "tests-machine.lock"):
        return (yield)


@contextmanager
def machine_share(exclusive: bool, turnstile_file: Path, machine_file: Path) -> Iterator[None]:
    """Hold the run's machine lock: shared for ordinary tests, exclusive for `alone` ones."""
    with turnstile_file.open("a") as turnstile, machine_file.open("a") as machine:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            # An exclusive holder keeps the turnstile until it has the machine, so no new
            # shared holder slips in ahead of it.
            fcntl.flock(machine, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(machine, fcntl.LOCK_UN)
