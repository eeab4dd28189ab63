"""The egress observer: every connection, datagram and written file of a toy or cloud process.

The relay only sees what a program chooses to send to the address it was given. A program can
open its own sockets (an analytics SDK, a forwarder, a DNS lookup), so each toy and cloud runs
under `strace -f`, which the kernel makes follow every thread and child process, whatever
library or language they use: connect(), sendto(), sendmsg(), write() and writev() on inet
sockets are recorded with their bytes, and every file opened for writing with its path.

Why strace: it needs no root, no network namespace and no changes to the program, works the
same in a container and on a user's machine, and cannot be bypassed from user space short of
raw syscalls it also traces (ptrace sees every syscall). `--seccomp-bpf` stops the program
only on the traced syscalls, so the cost stays small. Where strace is missing or ptrace is
forbidden, checks that need it report "not checkable" and the run ends INCOMPLETE.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# What is traced: sends on sockets, and the opens and renames that can leave a file behind.
SYSCALLS = ("connect,sendto,sendmsg,write,writev,openat,open,creat,rename,renameat,renameat2,"
            "link,linkat")
# Bytes kept per call: enough to show what left (a transcript, an audio header), not a copy.
SHOWN_BYTES = 4096
NOT_OBSERVED = "no egress observer"
INET = ("TCP", "UDP", "TCPv6", "UDPv6")

LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. )?(\w+)(?: resumed>)?\((.*)$")
SOCKET_FD = re.compile(r"^\d+<(TCPv6|UDPv6|TCP|UDP):\[([^\]]*)\]>")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
ADDRESS4 = re.compile(r'sin_addr=inet_addr\("([^"]*)"\)')
ADDRESS6 = re.compile(r'inet_pton\(AF_INET6, "([^"]*)"')
RETURNED_PATH = re.compile(r"= \d+<([^>]*)>\s*$")
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT")
NOT_FILES = ("/dev/", "/proc/", "/sys/", "pipe:", "socket:", "anon_inode:")


@cache
def unavailable() -> str | None:
    """Why the observer cannot run here, or None when it can."""
    strace = shutil.which("strace")
    if strace is None:
        return f"{NOT_OBSERVED}: strace is not installed (Debian/Ubuntu: apt install strace)"
    probe = subprocess.run([strace, "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return (f"{NOT_OBSERVED}: strace cannot trace here ({probe.stderr.strip()[:160]}); "
                "ptrace may be forbidden (kernel.yama.ptrace_scope, container seccomp)")
    return None


def traced(argv: list[str], trace_file: Path) -> list[str]:
    """`argv` run under the observer, writing its record to `trace_file`."""
    return [str(shutil.which("strace")), "-f", "-qq", "--seccomp-bpf", "-e", "signal=none",
            "-yy", "-xx", "-s", str(SHOWN_BYTES), "-e", f"trace={SYSCALLS}",
            "-A", "-o", str(trace_file), "--", *argv]


def observed(argv: list[str], trace_file: Path | None) -> list[str]:
    """`argv` under the observer when it can run here and a record is wanted."""
    if trace_file is None or unavailable() is not None:
        return argv
    trace_file.parent.mkdir(parents=True, exist_ok=True)
    return traced(argv, trace_file)


def _unescape(text: str) -> bytes:
    """strace's -xx quoting back to bytes."""
    out = bytearray()
    position = 0
    while position < len(text):
        if text.startswith("\\x", position):
            out.append(int(text[position + 2:position + 4], 16))
            position += 4
        elif text[position] == "\\" and position + 1 < len(text):
            out += {"n": b"\n", "t": b"\t", "r": b"\r"}.get(text[position + 1],
                                                         text[position + 1].encode())
            position += 2
        else:
            out += text[position].encode()
            position += 1
    return bytes(out)


@dataclass(frozen=True)
class Send:
    """One connection attempt or one send on an inet socket."""

    pid: int
    call: str
    protocol: str
    local: str
    destination: str
    data: bytes
    result: str

    def describe(self) -> str:
        what = (f"{len(self.data):,} bytes" if self.call != "connect"
                else f"a connection ({self.result or 'attempted'})")
        return f"{what} by {self.protocol} to {self.destination} (pid {self.pid}, {self.call})"


@dataclass
class Trace:
    sends: list[Send] = field(default_factory=list)
    written_files: set[Path] = field(default_factory=set)


def _destination(args: str) -> str | None:
    port = PORT.search(args)
    address = ADDRESS4.search(args) or ADDRESS6.search(args)
    if port is None or address is None:
        return None
    host = _unescape(address[1]).decode("ascii", "replace")
    return f"[{host}]:{port[1]}" if ":" in host else f"{host}:{port[1]}"


def _payload(call: str, args: str) -> bytes:
    if call in ("writev", "sendmsg"):
        return b"".join(_unescape(m) for m in re.findall(r'iov_base="((?:[^"\\]|\\.)*)"', args))
    first = QUOTED.search(args)
    return _unescape(first[1]) if first else b""


def _result(args: str) -> str:
    _, sep, tail = args.rpartition(") = ")
    return tail.strip() if sep else ""


def parse_trace(text: str) -> Trace:
    trace = Trace()
    connected: dict[tuple[int, str], str] = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match is None or "resumed>" in line:
            continue  # a resumed call's arguments were on its first line
        pid, call, args = int(match[1]), match[2], match[3]
        if call in ("openat", "open", "creat"):
            returned = RETURNED_PATH.search(args)
            if returned and (call == "creat" or WRITE_FLAGS.search(args)):
                path = _unescape(returned[1]).decode("utf-8", "replace")
                if not path.startswith(NOT_FILES):
                    trace.written_files.add(Path(path))
            continue
        if call.startswith(("rename", "link")):
            names = [_unescape(m).decode("utf-8", "replace") for m in QUOTED.findall(args)]
            if names and names[-1].startswith("/"):
                trace.written_files.add(Path(names[-1]))
            continue
        fd = SOCKET_FD.match(args)
        if fd is None:
            continue
        protocol, ends = fd[1], fd[2]
        local, arrow, peer = ends.partition("->")
        fd_key = (pid, args.split("<", 1)[0])
        if call == "connect":
            destination = _destination(args)
            if destination is None:
                continue
            connected[fd_key] = destination
            trace.sends.append(Send(pid, call, protocol, local, destination, b"",
                                    _result(args)))
            continue
        destination = (_destination(args) if call in ("sendto", "sendmsg") else None) or (
            peer if arrow else connected.get(fd_key, "an unknown peer"))
        trace.sends.append(Send(pid, call, protocol, local if arrow else "", destination,
                                _payload(call, args), _result(args)))
    return trace


def read_trace(path: Path) -> Trace:
    try:
        return parse_trace(path.read_text("utf-8", errors="replace"))
    except FileNotFoundError:
        return Trace()


def shown(data: bytes, limit: int = 160) -> str:
    """Bytes as a reader can follow them: text stays text, the rest is escaped."""
    text = data[:limit].decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text + (f"... ({len(data):,} bytes)" if len(data) > limit else "")
