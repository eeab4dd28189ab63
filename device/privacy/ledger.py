"""The egress ledger: an append-only local record of every request the toy sent (R01-R05).

A request is written (and fsynced) before its bytes leave: if the ledger cannot be written,
nothing is sent. Its answer is appended afterwards as a short outcome line naming the request.
Every line ends with a newline; a line cut short by a crash is skipped and reported by the
reader, and the next append starts on a fresh line so it is never swallowed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from device.state import FILE_MODE, StateError, ToyState

LEDGER_FILE = "egress-ledger.jsonl"


class LedgerUnavailable(StateError):
    """The ledger cannot be written, so nothing may be sent."""


@dataclass(frozen=True)
class LedgerEntry:
    at: float
    method: str
    path: str
    purpose: str
    body_bytes: int
    body: str
    status: int | None
    request_id: str = field(default_factory=lambda: secrets.token_hex(8))
    # Set when no answer ever came and the toy stopped asking (device.privacy.outbox).
    outcome: str | None = None


@dataclass
class LedgerReading:
    entries: list[LedgerEntry]
    damaged_lines: list[int]


class EgressLedger:
    def __init__(self, state: ToyState) -> None:
        self.state = state

    @property
    def path(self) -> os.PathLike[str]:
        return self.state.path(LEDGER_FILE)

    def record_request(self, entry: LedgerEntry) -> None:
        """Write the request down before it is sent; LedgerUnavailable if that fails."""
        try:
            self._append(asdict(entry))
        except OSError as error:
            raise LedgerUnavailable(
                f"cannot write the egress ledger in {self.state.directory} "
                f"({error.strerror or error}): nothing was sent") from error

    def record_outcome(self, request_id: str, status: int | None,
                       outcome: str | None = None) -> None:
        """The answer's status; or, with `outcome`, why there will never be one."""
        record: dict[str, Any] = {"outcome_of": request_id, "status": status}
        if outcome is not None:
            record["outcome"] = outcome
        try:
            self._append(record)
        except OSError as error:
            raise LedgerUnavailable(
                f"the request was sent but its answer ({status}) could not be added to the "
                f"egress ledger in {self.state.directory} ({error.strerror or error})"
            ) from error

    def read(self) -> LedgerReading:
        """Every request with its answer; lines that cannot be read are listed, not fatal."""
        entries: list[LedgerEntry] = []
        by_id: dict[str, int] = {}
        damaged: list[int] = []
        try:
            handle = open(self.path, encoding="utf-8", errors="replace")  # noqa: SIM115
        except FileNotFoundError:
            return LedgerReading([], [])
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                record = _parse(line)
                if record is None:
                    damaged.append(number)
                elif "outcome_of" in record:
                    index = by_id.get(str(record["outcome_of"]))
                    status, outcome = record.get("status"), record.get("outcome")
                    if index is None or not (isinstance(status, int) or (
                            status is None and isinstance(outcome, str))):
                        damaged.append(number)
                    else:
                        entries[index] = replace(entries[index], status=status,
                                                 outcome=outcome if isinstance(outcome, str)
                                                 else None)
                else:
                    try:
                        entry = LedgerEntry(**record)
                    except TypeError:
                        damaged.append(number)
                        continue
                    by_id[entry.request_id] = len(entries)
                    entries.append(entry)
        return LedgerReading(entries, damaged)

    def entries(self) -> list[LedgerEntry]:
        return self.read().entries

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        self.state.ensure_directory()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            status = os.fstat(fd)
            if status.st_mode & 0o777 != FILE_MODE:
                os.fchmod(fd, FILE_MODE)
            # A crash mid-write can leave a last line without its newline: start a new line
            # so this entry is not glued to (and lost with) the torn one.
            if status.st_size and os.pread(fd, 1, status.st_size - 1) != b"\n":
                line = b"\n" + line
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, "no space left on device (short write)")
                os.fsync(fd)
            except OSError:
                # Take back a partial line (a full disk), so the ledger holds no torn entry.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, status.st_size)
                raise
        finally:
            os.close(fd)


def _parse(line: str) -> dict[str, Any] | None:
    if not line.endswith("\n"):
        return None  # the torn tail of a write that never finished
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
