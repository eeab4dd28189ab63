"""The erasure receipt a parent receives (R20): what went, when, and the proof; no personal data.

Decision: the receipt names neither the child nor the child's internal id. It carries a random
receipt id, which the audit log's `child.erase` entry also records next to the opaque
`child:<id>` reference, so an auditor can link the two while the receipt alone reveals nothing
if it is forwarded or leaked. Findings name the file and byte offset, never the value found.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from cloud.clock import iso


def new_receipt_id() -> str:
    return f"erasure-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class ProofResult:
    checkpoint_complete: bool
    checkpoint_attempts: int
    canaries_checked: int
    values_held_elsewhere: int
    files_scanned: int
    bytes_scanned: int
    findings: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    # The key half (cloud.keys.shredding); None on receipts from before per-child keys.
    key_destroyed: bool | None = None
    keys_tried: int = 0
    sealed_values_tried: int = 0
    sealed_values_readable: int = 0
    # Copies of the destroyed key's bytes found in the key store's own files (None: no search,
    # the child never had a key there).
    key_copies_in_store: int | None = None
    # What was checked: the raw bytes of the database files and backups (SQLite), or, where
    # this cloud has no files to scan (PostgreSQL), that no row names the child any more.
    scope: str = "files"

    @property
    def clean(self) -> bool:
        # A problem (e.g. the values to search for were lost after a crash) is never clean.
        return (self.checkpoint_complete and not self.findings and self.problem is None
                and self.key_destroyed is not False and not self.sealed_values_readable
                and not self.key_copies_in_store)


PROOF_SCOPE_ROWS = "rows"


@dataclass(frozen=True)
class ErasureReceipt:
    receipt_id: str
    erased_at: float
    reason: str
    rows_removed: dict[str, int]
    categories: list[str]
    backups_rewritten: int
    proof: ProofResult
    elapsed_s: float
    audit_hash: str

    @property
    def total_rows(self) -> int:
        return sum(self.rows_removed.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["erased_at_iso"] = iso(self.erased_at)
        data["total_rows"] = self.total_rows
        data["proof"]["clean"] = self.proof.clean
        return data
