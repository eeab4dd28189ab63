"""The HTML report as people read it: a phone and a desktop in Chromium, checked by axe-core.

The report is built from a small, hand-made run (a clean story with a timeline, a negative
control, a not-applicable check, a scored mutant), so this test needs no scenario to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import AXE, AXE_TAGS, CHROMIUM, CHROMIUM_ARGS, RUN_AXE

from scenarios.model import Scenario
from scenarios.reports import RunInfo, write_html
from scenarios.runner import CheckResult, ScenarioResult
from scenarios.scoring import score


def _scenario(name: str, variant: str | None = None) -> Scenario:
    return Scenario(path=Path(f"{name}.yaml"), name=name, title=f"The {name} story",
                    story="A parent and a child, told in plain words.", toy_variant=variant,
                    cloud_variant=None, tls=False, cloud_env={}, cloud_config={}, steps=())


def _check(scenario: str, kind: str, rules: tuple[str, ...], expect: str, observed: str,
           negative: bool = False) -> CheckResult:
    return CheckResult(scenario, f"{kind}-1", f"A {kind} check", kind, rules, expect, negative,
                       observed, "what was seen, in words: 1,234 bytes, no audio", 0.01)


def _results() -> list[ScenarioResult]:
    clean = ScenarioResult(_scenario("clean"), [
        _check("clean", "no_audio_on_wire", ("R01",), "hold", "held"),
        _check("clean", "db_rows", ("R12", "R29"), "hold", "not applicable")])
    clean.timeline = [
        {"type": "consent", "family": "a", "text": "parent allows core, personalisation"},
        {"type": "turn", "family": "a", "heard": "my name is scarlett", "intent": "share_name",
         "decision": "consented", "answered_by": "cloud", "sent": True, "body_bytes": 190,
         "wire_bytes": 610, "audio_bytes": 64000, "audio_estimated": True,
         "reply": "Nice to meet you, Scarlett!", "personalised": True, "dropped": [],
         "leaked": None}]
    negative = ScenarioResult(_scenario("leaky", "leaky_name"), [
        _check("leaky", "no_personal_data_on_wire", ("R04",), "violation", "violated", True)])
    return [clean, negative]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = _results()
    path = tmp_path_factory.mktemp("report") / "r.html"
    write_html(results, path, RunInfo.collect(wall_s=12.5, score=score(results)))
    return path


def test_the_report_reads_in_order(report: Path) -> None:
    html = report.read_text()
    assert html.index("Bytes on the wire") < html.index("Rules covered") \
        < html.index("Rules not covered") < html.index("How good are the checks?")
    assert "VIOLATION CAUGHT" in html and "NOT APPLICABLE" in html
    assert "Consent change:" in html and "<svg" in html and "Commit" in html
    assert "Detection per violation class: 1 of 1" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html


@pytest.mark.parametrize("width, height", [(375, 812), (1280, 900)])
def test_the_report_fits_the_screen_and_passes_axe(report: Path, width: int,
                                                   height: int) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "Debian's chromium is needed at /usr/bin/chromium"
    assert AXE.is_file(), "axe-core is missing: npm install --prefix .cache/npm axe-core"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          bypass_csp=True)
            page = context.new_page()
            page.goto(report.as_uri())
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.add_script_tag(path=str(AXE))
            assert page.evaluate(RUN_AXE, AXE_TAGS) == []
        finally:
            browser.close()
