"""The detectors' own arithmetic: voice-keyed runs and the detection table."""

from __future__ import annotations

import secrets
from pathlib import Path

from scenarios.checks.voice import _keyed_runs
from scenarios.model import Scenario
from scenarios.runner import CheckResult, ScenarioResult
from scenarios.scoring import score


def test_random_identifiers_never_look_voice_derived() -> None:
    for _ in range(2000):
        a = [secrets.token_hex(16) for _ in range(2)]
        b = [secrets.token_hex(16) for _ in range(2)]
        assert _keyed_runs(a, b) == []


def test_a_pitch_hidden_in_an_identifier_is_found() -> None:
    a = ["0539" + secrets.token_hex(14) for _ in range(2)]
    b = ["04cb" + secrets.token_hex(14) for _ in range(2)]
    assert _keyed_runs(a, b) and _keyed_runs(a, b)[0][0] <= 1


def test_a_timestamp_in_alternating_order_is_not_voice_derived() -> None:
    assert _keyed_runs(["100", "101"], ["100", "101"]) == []
    # A short value (a number, a word) that follows the voice is caught whole.
    assert _keyed_runs(["7", "7"], ["9", "9"]) == [(0, 1)]
    assert _keyed_runs(["12", "12"], ["345", "345"]) == [(0, 2)]


def _result(negative: bool, *checks: tuple[str, str, str]) -> ScenarioResult:
    scenario = Scenario(path=Path("x.yaml"), name="x", title="x", story="",
                        toy_variant="leaky_name" if negative else None, cloud_variant=None,
                        tls=False, cloud_env={}, cloud_config={}, steps=())
    return ScenarioResult(scenario, [CheckResult("x", f"c{i}", "t", kind, ("R01",), expect,
                                                 negative, observed, "e", 0.0)
                                     for i, (kind, expect, observed) in enumerate(checks)])


def test_the_table_counts_catches_misses_and_clean_failures() -> None:
    table = score([
        _result(True, ("wire", "violation", "violated"), ("wire", "violation", "held")),
        _result(False, ("wire", "hold", "held"), ("wire", "hold", "violated"),
                ("db", "hold", "not applicable")),
    ])
    [wire] = table.kinds
    assert (wire.caught, wire.aimed, wire.false_alarms, wire.clean) == (1, 2, 1, 2)
    assert wire.detection_rate == 0.5 and wire.false_alarm_rate == 0.5


def test_mutants_of_sqlite_only_mechanisms_are_listed_not_played_on_postgresql() -> None:
    from scenarios.runner import catalogue_files, load_scenarios
    from scenarios.scoring import mutant_scenarios
    from scenarios.variants.mutants import MUTANTS, not_applicable_mutants

    catalogue = load_scenarios(catalogue_files())
    on_sqlite = {s.mutant for s in mutant_scenarios(catalogue, "sqlite")}
    on_postgres = {s.mutant for s in mutant_scenarios(catalogue, "postgresql")}
    skipped = not_applicable_mutants("postgresql")
    assert on_sqlite == set(MUTANTS) and not not_applicable_mutants("sqlite")
    assert set(skipped) == {"secure_delete_off", "no_wal_checkpoint"}
    assert on_postgres == set(MUTANTS) - set(skipped)
    assert all(reason.startswith("not applicable on postgresql: ") for reason in skipped.values())
    reported = score([], [], skipped).to_json()["mutants_not_applicable"]
    assert [m["mutant"] for m in reported] == sorted(skipped)


def _violator_story(name: str, toy: str | None, cloud: str | None,
                    *checks: tuple[str, str, str]) -> ScenarioResult:
    scenario = Scenario(path=Path(f"{name}.yaml"), name=name, title=name, story="",
                        toy_variant=toy, cloud_variant=cloud, tls=False, cloud_env={},
                        cloud_config={}, steps=())
    return ScenarioResult(scenario, [
        CheckResult(name, f"c{i}", f"check {i}", kind, ("R12",), expect, True, observed,
                    f"evidence {i}", 0.0)
        for i, (kind, expect, observed) in enumerate(checks)])


def test_every_variant_and_violator_belongs_to_exactly_one_class() -> None:
    from scenarios.variants import CLOUD_VARIANTS, TOY_VARIANTS
    from scenarios.violators.classes import CLASSES, what_it_does

    named = [v for c in CLASSES for v in c.variants]
    assert len(named) == len(set(named)), "a variant is in two classes"
    assert set(named) == set(TOY_VARIANTS) | set(CLOUD_VARIANTS)
    for module in [*TOY_VARIANTS.values(), *CLOUD_VARIANTS.values()]:
        assert len(what_it_does(module)) > 20, module


def test_detection_per_class_counts_caught_and_missed_violators() -> None:
    from scenarios.reports import RunInfo, detection_table, to_html

    results = [
        _violator_story("queue", "offline_queue", None, ("wire", "violation", "violated"),
                        ("db", "hold", "held")),
        # Missed: one aimed check saw nothing, so the violator is not caught.
        _violator_story("cache", "cached_name", None, ("wire", "violation", "violated"),
                        ("db", "violation", "held")),
        _violator_story("export", None, "export_omits_tables",
                        ("export_covers_data_map", "violation", "violated")),
    ]
    table = score(results)
    by_name = {c.name: c for c in table.classes}
    assert set(by_name) == {"withdrawn-data-used-again", "export-leaves-data-out"}
    withdrawn = by_name["withdrawn-data-used-again"]
    assert (len(withdrawn.runs), withdrawn.caught) == (2, 1)
    missed = next(r for r in withdrawn.runs if r.scenario == "cache")
    assert any(f.startswith("MISSED") for f in missed.findings)
    caught = next(r for r in withdrawn.runs if r.scenario == "queue")
    assert caught.findings[0].startswith("check 0: seen by wire: evidence 0. Breaks R12 (")
    assert "could not send offline" in caught.does
    text = detection_table(table)
    assert "withdrawn-data-used-again  2" in text and "MISSED  withdrawn-data-used-again" in text
    html = to_html(results, RunInfo.collect(score=table))
    assert "id=classes" in html and "1 of 2" in html and "export_omits_tables" in html
    json_classes = table.to_json()["classes"]
    assert [c["caught"] for c in json_classes] == [1, 1]
