"""How the suite shares two (or more) cores between pytest-xdist workers.

bootstrap.sh runs the tiers with one xdist worker per core and `--dist loadgroup`. Two rules
live here (a plugin tests/conftest.py loads):

- Tests that use a module-scoped fixture (a server started once for the module's readers, a
  built wheel) run in one worker, as one xdist group named after the module: otherwise each
  worker would start the module's servers again.
- A test marked `alone("why")` has the machine to itself among this run's workers: it holds
  an exclusive lock while every other test holds a shared one, so the other worker waits
  between its tests. It is for tests that time themselves against a bound or print figures;
  the reason says which. A turnstile lock lets a waiting `alone` test in before the next
  shared holder, so it is not starved. Serial runs (one core, or no xdist) take no locks.
"""

from __future__ import annotations

import fcntl
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TURNSTILE = ROOT / "build" / ".tests-turnstile.lock"
MACHINE = ROOT / "build" / ".tests-machine.lock"


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
    with machine_share(exclusive=item.get_closest_marker("alone") is not None):
        return (yield)


@contextmanager
def machine_share(exclusive: bool, turnstile_file: Path = TURNSTILE,
                  machine_file: Path = MACHINE) -> Iterator[None]:
    """Hold the run's machine lock: shared for ordinary tests, exclusive for `alone` ones."""
    machine_file.parent.mkdir(exist_ok=True)
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
