"""What the toy keeps, and forgetting it: `teddy device status` and `teddy device unpair`.

The toy's state folder holds four kinds of file (see device/state.py): the pairing
credential, the outbox of intents sent but not yet answered for certain, the cached consent
policy and the egress ledger. The outbox and the ledger are the child's data on the toy: they
hold the intents sent, with the name or age a child told Teddy when the parent allowed it to
leave. Unpairing removes them all, credential first, so a toy stopped half way is already
unpaired and running unpair again finishes the job.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

from device.privacy.gate import CREDENTIALS_FILE, EgressGate
from device.privacy.ledger import LEDGER_FILE, EgressLedger
from device.privacy.outbox import DAMAGED_SUFFIX, OUTBOX_FILE, Outbox
from device.privacy.policy import POLICY_FILE
from device.state import StateFileError, ToyState, fsync_directory

# What each file is, in the words `status` and `unpair` use; the order is unpair's order.
KEPT_FILES = {
    CREDENTIALS_FILE: "the pairing credential (this toy's device key for the cloud)",
    OUTBOX_FILE: "the outbox (ids of intents sent without a definite answer yet)",
    OUTBOX_FILE + DAMAGED_SUFFIX: "a damaged outbox set aside (never asked about)",
    POLICY_FILE: "the cached consent policy",
    LEDGER_FILE: "the egress ledger (every request sent, with any name or age it carried)",
}
# Left by a write that a crash cut short (state.write_json, check_writable).
LEFTOVER_SUFFIXES = (".tmp", ".probe")


@dataclass(frozen=True)
class KeptFile:
    name: str
    bytes: int
    holds: str


@dataclass
class ToyStatus:
    state_dir: str
    paired: bool
    cloud_url: str | None
    device_id: str | None
    ca_file: str | None
    policy_version: int
    purposes: list[str]
    files: list[KeptFile]
    requests_sent: int
    last_sent_at: float | None
    pending_offline_messages: int = 0
    notice: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kept_files(state: ToyState) -> list[KeptFile]:
    """The toy's files as they are on disk now, the known ones first."""
    if not state.directory.is_dir():
        return []
    found: list[KeptFile] = []
    for name, holds in KEPT_FILES.items():
        path = state.path(name)
        if path.is_file():
            found.append(KeptFile(name, path.stat().st_size, holds))
    for path in sorted(state.directory.iterdir()):
        if path.is_file() and path.name not in KEPT_FILES:
            holds = ("an unfinished write left by a crash" if path.name.endswith(
                LEFTOVER_SUFFIXES) else "not a file Teddy writes")
            found.append(KeptFile(path.name, path.stat().st_size, holds))
    return found


def toy_status(state: ToyState) -> ToyStatus:
    """Read-only: nothing is sent and no file is created or changed."""
    gate = EgressGate(state)
    entries = EgressLedger(state).read().entries if state.directory.is_dir() else []
    notice = gate.notice
    try:
        pending = len(Outbox(state).pending())
    except StateFileError as error:
        pending = 0
        notice = f"{notice}; {error}" if notice else f"{error} (set aside on the next start)"
    return ToyStatus(
        state_dir=str(state.directory), paired=gate.paired,
        cloud_url=gate.cloud_url, device_id=gate.device_id, ca_file=gate.ca_file,
        policy_version=gate.policy.version, purposes=sorted(gate.policy.purposes),
        files=kept_files(state), requests_sent=len(entries),
        last_sent_at=entries[-1].at if entries else None, pending_offline_messages=pending,
        notice=notice)


def removable_files(state: ToyState) -> list[KeptFile]:
    """What unpair removes: Teddy's own files and its leftovers, never anything else."""
    return [kept for kept in kept_files(state)
            if kept.name in KEPT_FILES or kept.name.endswith(LEFTOVER_SUFFIXES)]


def unpair(state: ToyState) -> list[KeptFile]:
    """Remove the credential, the outbox, the policy and the ledger (in that order); what was
    removed."""
    removing = removable_files(state)
    removed: list[KeptFile] = []
    for kept in removing:
        with contextlib.suppress(FileNotFoundError):
            state.path(kept.name).unlink()
            removed.append(kept)
    if removed:
        fsync_directory(state.directory)
    return removed


def describe_file(kept: KeptFile) -> str:
    return f"{kept.name} ({_size(kept.bytes)}): {kept.holds}"


def _size(count: int) -> str:
    return f"{count} B" if count < 1024 else f"{count / 1024:.1f} KiB"
