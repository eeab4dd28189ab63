"""The test session's own processes, read from /proc: what a test started and left running.

The session makes itself a child subreaper (Linux prctl), so a process whose parent exits
without stopping it (a gunicorn master left by `teddy demo`, say) is re-parented to the
session instead of to init, and still counts as the session's descendant.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
# Python's multiprocessing starts this helper once and it exits with the interpreter.
INTERPRETER_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    parent: int
    state: str
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} (parent {self.parent}): {self.command[:200]}"


def become_subreaper() -> bool:
    """Adopt orphaned descendants; False where the kernel has no such call."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _read(pid: int) -> ProcessInfo | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # The command name in parentheses may itself hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2:].split()
    command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return ProcessInfo(pid, int(fields[1]), fields[0], command or stat.split(" ", 1)[1])


def descendants(root: int | None = None) -> list[ProcessInfo]:
    """Every live (not zombie) process below root (default: this process)."""
    root = os.getpid() if root is None else root
    table = [info for entry in os.listdir("/proc") if entry.isdigit()
             if (info := _read(int(entry))) is not None]
    children: dict[int, list[ProcessInfo]] = {}
    for info in table:
        children.setdefault(info.parent, []).append(info)
    found: list[ProcessInfo] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return [info for info in found if info.state != "Z"]


def reap_zombies() -> None:
    """Collect the exit status of adopted children that have ended."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def left_running(grace_seconds: float = 5.0) -> list[ProcessInfo]:
    """Descendants still alive after a grace period for ones already shutting down."""
    deadline = time.monotonic() + grace_seconds
    while True:
        reap_zombies()
        alive = [info for info in descendants()
                 if not any(helper in info.command for helper in INTERPRETER_HELPERS)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)


def stop_all(processes: list[ProcessInfo]) -> None:
    """Kill what a test left behind, so a failed run does not leave orphans either."""
    for info in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    time.sleep(0.2)
    reap_zombies()
