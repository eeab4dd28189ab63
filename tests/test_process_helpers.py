"""The end-of-run check for processes the tests leave behind, against a real orphan."""

from __future__ import annotations

import subprocess
import sys
import time

from process_helpers import descendants, left_running, stop_all


def test_an_orphan_of_a_command_that_exited_is_still_found_and_stopped(tmp_path):
    marker = str(tmp_path / "orphan")
    # The shell exits at once and leaves its background child behind, as a command that
    # forgets its server would; the session adopts it (it is a subreaper).
    subprocess.run(["sh", "-c", f'{sys.executable} -c "import time; time.sleep(60)" "{marker}" '
                    "</dev/null >/dev/null 2>&1 &"],
                   check=False, timeout=10)
    deadline = time.monotonic() + 5
    found = []
    while not found and time.monotonic() < deadline:
        found = [info for info in descendants() if marker in info.command]
        time.sleep(0.05)
    assert found, "the orphan was not seen as the session's descendant"
    stop_all(found)
    assert not [info for info in left_running(grace_seconds=1) if marker in info.command]


def test_nothing_of_this_module_is_left_running():
    left = left_running(grace_seconds=0)
    assert [info for info in left if "time.sleep(60)" in info.command] == []
