"""Scored detectors: how many planted violations each check kind caught, and how often it
failed a run where nothing was planted.

Planted violations come from two places: the catalogue's negative controls (variants modelled
on real failures, each check that `expect: violation` is aimed at one) and, with `--mutants`,
the automated mutants of the real cloud and toy replayed through the scenarios they target
(a check is aimed at a mutant when it names a rule the mutant breaks). A failure on a clean run
is counted against the check kind: it is either a false alarm or a real fault in the system
under test, and the report says which checks those were so a reader can tell.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from scenarios.model import Scenario
from scenarios.runner import CheckResult, ScenarioResult
from scenarios.variants.mutants import MUTANTS


@dataclass
class KindScore:
    kind: str
    aimed: int = 0
    caught: int = 0
    clean: int = 0
    false_alarms: int = 0
    missed_by: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    @property
    def detection_rate(self) -> float | None:
        return self.caught / self.aimed if self.aimed else None

    @property
    def false_alarm_rate(self) -> float | None:
        return self.false_alarms / self.clean if self.clean else None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "violations_aimed_at": self.aimed, "caught": self.caught,
                "detection_rate": self.detection_rate, "clean_checks": self.clean,
                "failed_on_clean_runs": self.false_alarms,
                "false_alarm_rate": self.false_alarm_rate, "missed": self.missed_by,
                "clean_failures": self.alarms}


@dataclass(frozen=True)
class MutantOutcome:
    mutant: str
    scenario: str
    breaks: tuple[str, ...]
    description: str
    caught_by: tuple[str, ...]
    error: str | None

    @property
    def killed(self) -> bool:
        return bool(self.caught_by)


@dataclass(frozen=True)
class Score:
    kinds: list[KindScore]
    mutants: list[MutantOutcome]
    # Mutants not played against this run's backend, with the reason.
    not_applicable: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kinds": [k.to_json() for k in self.kinds],
                "mutants_not_applicable": [{"mutant": name, "reason": reason}
                                           for name, reason in sorted(
                                               self.not_applicable.items())],
                "mutants": [{"mutant": m.mutant, "scenario": m.scenario, "breaks": list(m.breaks),
                             "description": m.description, "killed": m.killed,
                             "caught_by": list(m.caught_by), "error": m.error}
                            for m in self.mutants]}


def mutant_scenarios(catalogue: Iterable[Scenario], backend: str = "sqlite") -> list[Scenario]:
    """A copy of each targeted catalogue scenario per mutant that can happen on this backend,
    to run with the mutant applied."""
    by_file = {s.path.name: s for s in catalogue if not s.negative_control}
    return [replace(by_file[target], name=f"{by_file[target].name}--{mutant.name}",
                    mutant=mutant.name)
            for mutant in MUTANTS.values() if mutant.applies_to(backend)
            for target in mutant.targets if target in by_file]


def _label(check: CheckResult) -> str:
    return f"{check.scenario}/{check.check_id}"


def score(results: list[ScenarioResult],
          mutant_results: list[ScenarioResult] | None = None,
          not_applicable: dict[str, str] | None = None) -> Score:
    kinds: dict[str, KindScore] = {}

    def of(kind: str) -> KindScore:
        return kinds.setdefault(kind, KindScore(kind))

    for result in results:
        for check in result.checks:
            if check.status == "not applicable":
                continue
            entry = of(check.kind)
            if result.scenario.negative_control:
                if check.expect == "violation":
                    entry.aimed += 1
                    if check.observed == "violated":
                        entry.caught += 1
                    else:
                        entry.missed_by.append(_label(check))
            else:
                entry.clean += 1
                if check.observed != "held":
                    entry.false_alarms += 1
                    entry.alarms.append(_label(check))
    outcomes = []
    for result in mutant_results or []:
        mutant = MUTANTS[str(result.scenario.mutant)]
        caught = [_label(c) for c in result.checks if c.observed == "violated"]
        for check in result.checks:
            if not set(check.rules) & set(mutant.breaks):
                continue
            entry = of(check.kind)
            entry.aimed += 1
            if check.observed == "violated":
                entry.caught += 1
            else:
                entry.missed_by.append(f"{_label(check)} ({mutant.name})")
        outcomes.append(MutantOutcome(mutant.name, result.scenario.name, mutant.breaks,
                                      mutant.description, tuple(caught), result.error))
    return Score(sorted(kinds.values(), key=lambda k: k.kind), outcomes,
                 dict(not_applicable or {}))
