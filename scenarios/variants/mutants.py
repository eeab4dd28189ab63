"""Small automated mutations of the real cloud and toy, one rule broken at a time.

Where the hand-written variants model known real failures, mutants are the slips a developer
makes: a pragma dropped, a check skipped, a clean-up forgotten. Each names the rules it breaks
and the catalogue scenarios whose checks ought to notice. `teddy scenarios run --mutants` plays
those scenarios against each mutant and scores every check kind on what it caught.

The mutant to apply comes from the TEDDY_MUTANT environment variable:

    TEDDY_MUTANT=secure_delete_off python -m scenarios.variants.mutants serve --db PATH ...
    TEDDY_MUTANT=buffer_kept python -m scenarios.variants.mutants toy --state DIR --cloud URL
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from cloud.seam import CloudSeam, Honest
from device.seam import ToySeam

ENV = "TEDDY_MUTANT"


@dataclass(frozen=True)
class Mutant:
    name: str
    side: str  # "cloud" or "toy"
    breaks: tuple[str, ...]
    targets: tuple[str, ...]  # catalogue file names
    description: str
    seam: CloudSeam | ToySeam
    # Why the slip cannot happen on PostgreSQL (it breaks a SQLite-only mechanism), if so.
    sqlite_only: str | None = None

    def __post_init__(self) -> None:
        expected = "toy" if isinstance(self.seam, ToySeam) else "cloud"
        if self.side != expected:
            raise ValueError(f"mutant {self.name}: a {expected} seam for side {self.side!r}")

    def applies_to(self, backend: str) -> bool:
        return backend == "sqlite" or self.sqlite_only is None


# -- cloud mutations: seams over the cloud's declared points (cloud/seam.py) --------------------
class ConsentIgnored(CloudSeam):
    def current_policy(self, honest: Honest, db: Any, child_id: int, notice_version: int
                       ) -> tuple[int, set[str]]:
        from teddy.contracts.data_map import data_map

        return 1, set(data_map().consentable_purposes)


class RevokeNoop(CloudSeam):
    def revoke(self, honest: Honest, db: Any, **kwargs: Any) -> bool:
        return True


class SecureDeleteOff(CloudSeam):
    def connect(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        db = honest(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")
        return db


class NoWalCheckpoint(CloudSeam):
    # The server's background checkpointer would otherwise do the erasure's job for it.
    def background_checkpoint(self, honest: Honest, db: Any, path: str) -> None:
        return None

    def checkpoint_truncate(self, honest: Honest, db: Any, **kwargs: Any) -> Any:
        from cloud.retention.checkpoint import CheckpointResult

        return CheckpointResult(True, 1, 0, 0.0)


class HistorySlotsKept(CloudSeam):
    def strip_history_slots(self, honest: Honest, *args: Any, **kwargs: Any) -> int:
        return 0


class StaleSignatures(CloudSeam):
    def max_clock_skew_s(self, honest: Honest) -> int:
        return 10**9


# -- toy mutations: seams over the toy's declared points (device/seam.py) ----------------------
class GateIgnoresPurpose(ToySeam):
    def decide(self, honest: Honest, gate: Any, intent: str, slots: dict[str, Any],
               locale: str) -> Any:
        import dataclasses

        from teddy.contracts.data_map import data_map

        # Every consentable purpose looks granted as soon as core is.
        real = gate.policy
        if "core" in real.purposes:
            gate.policy = dataclasses.replace(
                real, purposes=frozenset(real.purposes) | set(data_map().consentable_purposes))
        try:
            return honest(gate, intent, slots, locale)
        finally:
            gate.policy = real


class BufferKept(ToySeam):
    def recognise(self, honest: Honest, toy: Any, pcm: bytearray) -> Any:
        return toy.understander.hear(bytes(pcm))  # heard, never wiped


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("consent_ignored", "cloud", ("R07", "R12"), ("05_revocation.yaml",),
           "the cloud treats every purpose as consented", ConsentIgnored()),
    Mutant("revoke_noop", "cloud", ("R12",), ("05_revocation.yaml",),
           "Turn off reports success but leaves the consent on", RevokeNoop()),
    # Aimed at revocation, not at a deletion: once a deleted child's key is destroyed, the
    # sealed copies freed pages and old WAL frames keep can no longer be opened (per-child
    # keys); after a revocation the key lives on, so such a copy is still readable.
    Mutant("secure_delete_off", "cloud", ("R12", "R19"), ("12_revocation_erases.yaml",),
           "deleted pages are freed, not overwritten", SecureDeleteOff(),
           sqlite_only="PRAGMA secure_delete is SQLite's; PostgreSQL has no such setting, and "
                       "the file scan that catches it does not apply there"),
    Mutant("no_wal_checkpoint", "cloud", ("R12", "R19"), ("12_revocation_erases.yaml",),
           "nothing ever checkpoints the WAL, whose old frames keep the values",
           NoWalCheckpoint(),
           sqlite_only="the WAL checkpoint the mutant skips is SQLite's; PostgreSQL's server "
                       "runs its own checkpoints, and its WAL is not the cloud's to scan"),
    Mutant("history_slots_kept", "cloud", ("R12", "R29"), ("12_revocation_erases.yaml",),
           "revocation erases the profile but not the name inside history entries",
           HistorySlotsKept()),
    Mutant("stale_signatures", "cloud", ("R28",), ("10_two_families.yaml",),
           "signed requests from any time are accepted", StaleSignatures()),
    Mutant("gate_ignores_purpose", "toy", ("R04", "R12"), ("05_revocation.yaml",),
           "the toy's gate sends personal slots once core is allowed", GateIgnoresPurpose()),
    Mutant("buffer_kept", "toy", ("R02",), ("01_new_toy_before_consent.yaml",),
           "the toy forgets to wipe the audio buffer", BufferKept()),
)}


def not_applicable_mutants(backend: str) -> dict[str, str]:
    """Mutant name -> why it is not played against this backend."""
    return {m.name: f"not applicable on {backend}: {m.sqlite_only}" for m in MUTANTS.values()
            if not m.applies_to(backend) and m.sqlite_only is not None}


def from_environment() -> Mutant:
    name = os.environ.get(ENV, "")
    mutant = MUTANTS.get(name)
    if mutant is None:
        raise SystemExit(f"{ENV} must name a mutant: {', '.join(sorted(MUTANTS))}")
    return mutant


def main(argv: list[str]) -> int:
    mutant = from_environment()
    if isinstance(mutant.seam, ToySeam):
        from scenarios.variants.toy_wrapper import run_toy_agent

        return run_toy_agent(argv, mutant.seam)
    from scenarios.variants.cloud_wrapper import run_cloud_command

    return run_cloud_command(argv, mutant.seam)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
