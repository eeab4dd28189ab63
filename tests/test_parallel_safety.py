"""How tests share the cores under xdist (tests/parallel_safety.py): the machine lock that
gives `alone` tests the machine, and the xdist group of a module with module-scoped fixtures.
The locks here are private files, not the running suite's own."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest
from parallel_safety import machine_share


def _holder(locks: tuple[Path, Path], exclusive: bool, log: list[str], name: str,
            hold_s: float, entered: threading.Event | None = None) -> threading.Thread:
    def hold() -> None:
        with machine_share(exclusive, *locks):
            log.append(f"{name} in")
            if entered is not None:
                entered.set()
            time.sleep(hold_s)
            log.append(f"{name} out")
    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def _wait_until_taken(lock_file: Path) -> None:
    deadline = time.monotonic() + 10
    with lock_file.open("a") as handle:
        while time.monotonic() < deadline:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            fcntl.flock(handle, fcntl.LOCK_UN)
            time.sleep(0.01)
    raise AssertionError(f"nobody took {lock_file}")


@pytest.fixture
def locks(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "turnstile.lock", tmp_path / "machine.lock"


def test_an_alone_test_waits_for_a_running_test_and_the_next_one_waits_for_it(locks):
    log: list[str] = []
    running = threading.Event()
    first = _holder(locks, False, log, "shared", 0.4, running)
    running.wait(5)
    alone = _holder(locks, True, log, "alone", 0.4)
    _wait_until_taken(locks[0])  # the alone test waits for the machine, holding the turnstile
    later = _holder(locks, False, log, "later", 0.0)
    for thread in (first, alone, later):
        thread.join(10)
    assert log == ["shared in", "shared out", "alone in", "alone out", "later in", "later out"]


def test_negative_control_ordinary_tests_run_side_by_side(locks):
    log: list[str] = []
    running = threading.Event()
    first = _holder(locks, False, log, "one", 0.4, running)
    running.wait(5)
    second = _holder(locks, False, log, "two", 0.0)
    for thread in (first, second):
        thread.join(10)
    assert log == ["one in", "two in", "two out", "one out"]


@pytest.fixture(scope="module")
def module_wide() -> str:
    return "started once for the module"


def test_a_test_with_a_module_fixture_is_in_its_modules_xdist_group(request, module_wide):
    group = request.node.get_closest_marker("xdist_group")
    assert group is not None and group.args == ("tests/test_parallel_safety.py",)


def test_negative_control_a_test_without_one_is_in_no_group(request):
    assert request.node.get_closest_marker("xdist_group") is None
