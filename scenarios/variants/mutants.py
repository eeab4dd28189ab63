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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV = "TEDDY_MUTANT"


@dataclass(frozen=True)
class Mutant:
    name: str
    side: str  # "cloud" or "toy"
    breaks: tuple[str, ...]
    targets: tuple[str, ...]  # catalogue file names
    description: str
    apply: Callable[[], None]
    # Why the slip cannot happen on PostgreSQL (it breaks a SQLite-only mechanism), if so.
    sqlite_only: str | None = None

    def applies_to(self, backend: str) -> bool:
        return backend == "sqlite" or self.sqlite_only is None


# -- cloud mutations ----------------------------------------------------------------------------
def _consent_ignored() -> None:
    import cloud.consent as consent
    from teddy.contracts.data_map import data_map

    def current_policy(db: Any, child_id: int, notice_version: int) -> tuple[int, set[str]]:
        return 1, set(data_map().consentable_purposes)

    consent.current_policy = current_policy  # type: ignore[assignment]


def _revoke_noop() -> None:
    import cloud.consent as consent

    consent.revoke = lambda db, **kwargs: True  # type: ignore[assignment]


def _secure_delete_off() -> None:
    import cloud.storage.db as storage

    real_connect = storage.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        db = real_connect(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")
        return db

    storage.connect = connect  # type: ignore[assignment]


def _no_wal_checkpoint() -> None:
    import cloud.retention.checkpoint as checkpoint
    import cloud.storage.checkpointer as checkpointer

    # The server's background checkpointer would otherwise do the erasure's job for it.
    checkpointer._checkpoint = lambda db, path: None  # type: ignore[assignment]

    def checkpoint_truncate(db: Any, **kwargs: Any) -> Any:
        return checkpoint.CheckpointResult(True, 1, 0, 0.0)

    checkpoint.checkpoint_truncate = checkpoint_truncate  # type: ignore[assignment]


def _history_slots_kept() -> None:
    import cloud.retention.revocation as revocation

    revocation._strip_slots = lambda *args, **kwargs: 0  # type: ignore[assignment]


def _stale_signatures() -> None:
    from teddy.contracts import signing

    signing.MAX_CLOCK_SKEW_S = 10**9  # type: ignore[misc]


# -- toy mutations ------------------------------------------------------------------------------
def _gate_ignores_purpose() -> None:
    import dataclasses

    from device.privacy.gate import EgressGate
    from teddy.contracts.data_map import data_map

    real_decide = EgressGate.decide

    def decide(self: Any, intent: str, slots: dict[str, Any], locale: str) -> Any:
        # Every consentable purpose looks granted as soon as core is.
        real = self.policy
        if "core" in real.purposes:
            self.policy = dataclasses.replace(
                real, purposes=frozenset(real.purposes) | set(data_map().consentable_purposes))
        try:
            return real_decide(self, intent, slots, locale)
        finally:
            self.policy = real

    EgressGate.decide = decide  # type: ignore[method-assign]


def _buffer_kept() -> None:
    from device.toy import Toy, _with_timing

    def hear(self: Any, pcm: bytearray) -> Any:
        heard = self.understander.hear(bytes(pcm))
        return _with_timing(self.respond(heard), "asr", heard.asr_ms)

    Toy.hear = hear  # type: ignore[method-assign]


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("consent_ignored", "cloud", ("R07", "R12"), ("05_revocation.yaml",),
           "the cloud treats every purpose as consented", _consent_ignored),
    Mutant("revoke_noop", "cloud", ("R12",), ("05_revocation.yaml",),
           "Turn off reports success but leaves the consent on", _revoke_noop),
    # Aimed at revocation, not at a deletion: once a deleted child's key is destroyed, the
    # sealed copies freed pages and old WAL frames keep can no longer be opened (per-child
    # keys); after a revocation the key lives on, so such a copy is still readable.
    Mutant("secure_delete_off", "cloud", ("R12", "R19"), ("12_revocation_erases.yaml",),
           "deleted pages are freed, not overwritten", _secure_delete_off,
           sqlite_only="PRAGMA secure_delete is SQLite's; PostgreSQL has no such setting, and "
                       "the file scan that catches it does not apply there"),
    Mutant("no_wal_checkpoint", "cloud", ("R12", "R19"), ("12_revocation_erases.yaml",),
           "nothing ever checkpoints the WAL, whose old frames keep the values",
           _no_wal_checkpoint,
           sqlite_only="the WAL checkpoint the mutant skips is SQLite's; PostgreSQL's server "
                       "runs its own checkpoints, and its WAL is not the cloud's to scan"),
    Mutant("history_slots_kept", "cloud", ("R12", "R29"), ("12_revocation_erases.yaml",),
           "revocation erases the profile but not the name inside history entries",
           _history_slots_kept),
    Mutant("stale_signatures", "cloud", ("R28",), ("10_two_families.yaml",),
           "signed requests from any time are accepted", _stale_signatures),
    Mutant("gate_ignores_purpose", "toy", ("R04", "R12"), ("05_revocation.yaml",),
           "the toy's gate sends personal slots once core is allowed", _gate_ignores_purpose),
    Mutant("buffer_kept", "toy", ("R02",), ("01_new_toy_before_consent.yaml",),
           "the toy forgets to wipe the audio buffer", _buffer_kept),
)}


def not_applicable_mutants(backend: str) -> dict[str, str]:
    """Mutant name -> why it is not played against this backend."""
    return {m.name: f"not applicable on {backend}: {m.sqlite_only}" for m in MUTANTS.values()
            if not m.applies_to(backend) and m.sqlite_only is not None}


def apply_from_environment() -> Mutant:
    name = os.environ.get(ENV, "")
    mutant = MUTANTS.get(name)
    if mutant is None:
        raise SystemExit(f"{ENV} must name a mutant: {', '.join(sorted(MUTANTS))}")
    mutant.apply()
    return mutant


def main(argv: list[str]) -> int:
    mutant = apply_from_environment()
    if mutant.side == "toy":
        from scenarios.toy_agent import main as toy_main

        return toy_main(argv)
    from scenarios.variants.cloud_wrapper import run_cloud_command

    return run_cloud_command(argv, lambda: None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
