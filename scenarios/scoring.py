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

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from scenarios.model import Scenario
from scenarios.rules import rule_title
from scenarios.runner import CheckResult, ScenarioResult
from scenarios.variants import CLOUD_VARIANTS, TOY_VARIANTS
from scenarios.variants.mutants import MUTANTS
from scenarios.violators.classes import CLASSES, class_of, what_it_does


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
class ViolatorRun:
    """One deliberately broken toy or cloud in one story, and what the checks made of it."""
    scenario: str
    variant: str
    side: str  # "toy" or "cloud"
    does: str  # in its author's words
    caught: bool
    # Plain words per aimed check: what was seen (what left, where) and which rule it breaks.
    findings: tuple[str, ...]
    # The same, short: rule IDs, check kind and evidence.
    brief: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "variant": self.variant, "side": self.side,
                "does": self.does, "caught": self.caught, "findings": list(self.findings)}


@dataclass(frozen=True)
class ClassOutcome:
    name: str
    title: str
    runs: tuple[ViolatorRun, ...]

    @property
    def caught(self) -> int:
        return sum(run.caught for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {"class": self.name, "title": self.title, "violators_run": len(self.runs),
                "caught": self.caught, "runs": [r.to_json() for r in self.runs]}


def _finding(check: CheckResult, width: int = 600) -> str:
    rules = "; ".join(f"{rule} ({rule_title(rule)})" for rule in check.rules)
    evidence = textwrap.shorten(check.evidence, width, placeholder="...")
    if check.observed == "violated":
        return f"{check.title}: seen by {check.kind}: {evidence}. Breaks {rules}."
    return f"MISSED by {check.kind} ({check.title}): {check.observed}: {evidence}"


def by_class(results: list[ScenarioResult]) -> list[ClassOutcome]:
    """Each violation class with the negative-control stories of this run that belong to it;
    a story counts as caught when it passed with every aimed check seeing its violation."""
    runs: dict[tuple[str, str], list[ViolatorRun]] = {}
    for result in results:
        scenario = result.scenario
        if not scenario.negative_control or scenario.mutant is not None:
            continue
        aimed = [c for c in result.checks if c.expect == "violation"]
        seen = [c for c in aimed if c.status != "not applicable"]
        caught = result.status == "pass" and bool(seen) and all(
            c.observed == "violated" for c in seen)
        for side, variant, modules in (("toy", scenario.toy_variant, TOY_VARIANTS),
                                       ("cloud", scenario.cloud_variant, CLOUD_VARIANTS)):
            if variant is None:
                continue
            group = class_of(variant)
            key = (group.name, group.title) if group else ("unclassified",
                                                           "Not assigned to a class")
            runs.setdefault(key, []).append(ViolatorRun(
                scenario.name, variant, side, what_it_does(modules[variant]), caught,
                tuple(_finding(c) for c in seen) or (f"no check ran: {result.error}",),
                tuple(f"{'+'.join(c.rules)} {c.kind}: {c.evidence}" for c in seen)))
    order = [c.name for c in CLASSES]
    outcomes = [ClassOutcome(name, title, tuple(found)) for (name, title), found in runs.items()]
    return sorted(outcomes, key=lambda c: order.index(c.name) if c.name in order else len(order))


@dataclass(frozen=True)
class Score:
    kinds: list[KindScore]
    mutants: list[MutantOutcome]
    # Mutants not played against this run's backend, with the reason.
    not_applicable: dict[str, str] = field(default_factory=dict)
    # Detection per violation class (scenarios/violators/classes.py).
    classes: list[ClassOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kinds": [k.to_json() for k in self.kinds],
                "classes": [c.to_json() for c in self.classes],
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
                 dict(not_applicable or {}), by_class(results))
