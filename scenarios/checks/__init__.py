"""Checks: observations of the running system that say whether a rule held.

A check returns an Observation: `held` True when the system behaved as the rule demands, and
evidence a reader can follow. It reads only what an outside evaluator could see: bytes on the
toy's route, the toy's own ledger and answers, HTTP responses, the database file opened
read-only, and the parent's pages. A check that cannot make its observation raises; that is
an error, never a detection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scenarios.context import ScenarioContext


@dataclass(frozen=True)
class Observation:
    held: bool
    evidence: str
    # False where this installation cannot make the observation at all (e.g. a wheel has no
    # test suite); reported as "not applicable", never as held.
    applicable: bool = True


CheckFunction = Callable[[ScenarioContext, dict[str, Any]], Observation]
CHECKS: dict[str, CheckFunction] = {}


def check(kind: str) -> Callable[[CheckFunction], CheckFunction]:
    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[kind] = function
        return function
    return register


def held_if(problems: list[str], fine: str) -> Observation:
    """Held when there are no problems; evidence lists them, or says what was fine."""
    if problems:
        shown = problems[:6] + ([f"... and {len(problems) - 6} more"] if len(problems) > 6 else [])
        return Observation(False, "; ".join(shown))
    return Observation(True, fine)


def load_all() -> dict[str, CheckFunction]:
    # Imported for their side effect of registering their checks.
    from scenarios.checks import (  # noqa: F401
        credentials,
        egress,
        erasure,
        export,
        parent,
        probes,
        sealed,
        store,
        toy,
        unit,
        voice,
        wire,
    )

    return CHECKS
