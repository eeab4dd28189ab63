"""The egress ledger: an append-only local record of every request the toy sent (R01-R05)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from device.state import ToyState

LEDGER_FILE = "egress-ledger.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    at: float
    method: str
    path: str
    purpose: str
    body_bytes: int
    body: str
    status: int | None


class EgressLedger:
    def __init__(self, state: ToyState) -> None:
        self.state = state

    def append(self, entry: LedgerEntry) -> None:
        self.state.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.state.path(LEDGER_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(entry), sort_keys=True) + "\n")

    def entries(self) -> Iterator[LedgerEntry]:
        path = self.state.path(LEDGER_FILE)
        if not path.exists():
            return
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield LedgerEntry(**json.loads(line))
