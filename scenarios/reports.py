"""Reports of a scenario run: a console table, JSON, JUnit XML and a self-contained HTML page."""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from scenarios.rules import RULE_IDS, rule_texts, rule_title
from scenarios.runner import CheckResult, ScenarioResult

EVIDENCE_WIDTH = 70


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    status: str  # pass | fail | not covered
    checks: tuple[CheckResult, ...]


def rule_verdicts(results: list[ScenarioResult]) -> list[RuleVerdict]:
    checks = [c for r in results for c in r.checks]
    verdicts = []
    for rule in RULE_IDS:
        mine = tuple(c for c in checks if rule in c.rules)
        status = ("not covered" if not mine
                  else "pass" if all(c.status == "pass" for c in mine) else "fail")
        verdicts.append(RuleVerdict(rule, status, mine))
    return verdicts


def summary(results: list[ScenarioResult]) -> dict[str, Any]:
    checks = [c for r in results for c in r.checks]
    verdicts = rule_verdicts(results)
    negative = [c for c in checks if c.negative_control and c.expect == "violation"]
    return {
        "scenarios": len(results),
        "scenarios_failed": sum(r.status == "fail" for r in results),
        "checks": len(checks),
        "checks_failed": sum(c.status == "fail" for c in checks),
        "rules_covered": sum(v.status != "not covered" for v in verdicts),
        "rules_failed": [v.rule for v in verdicts if v.status == "fail"],
        "rules_not_covered": [v.rule for v in verdicts if v.status == "not covered"],
        "violations_expected": len(negative),
        "violations_detected": sum(c.status == "pass" for c in negative),
        "seconds": round(sum(r.seconds for r in results), 2),
        "status": "pass" if all(r.status == "pass" for r in results) else "fail",
    }


# -- console -----------------------------------------------------------------------------------
def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [_row(header, widths), _row(["-" * w for w in widths], widths),
            *(_row(r, widths) for r in rows)]


def _short(text: str, width: int = EVIDENCE_WIDTH) -> str:
    return textwrap.shorten(text, width, placeholder="...")


def scenario_table(result: ScenarioResult) -> str:
    scenario = result.scenario
    tag = " [negative control]" if scenario.negative_control else ""
    lines = [f"{scenario.name}: {scenario.title}{tag}  ->  {result.status.upper()} "
             f"({result.seconds:.1f} s)"]
    rows = [[c.status.upper(), c.check_id, ",".join(c.rules),
             c.observed + (" (expected)" if c.expect == "violation" else ""),
             _short(c.evidence)] for c in result.checks]
    lines += ["  " + line for line in _table(["", "check", "rules", "observed", "evidence"],
                                             rows)]
    if result.error:
        lines.append(f"  ERROR {result.error}")
    return "\n".join(lines)


def rule_table(results: list[ScenarioResult]) -> str:
    rows = []
    for verdict in rule_verdicts(results):
        scenarios = sorted({c.scenario for c in verdict.checks})
        rows.append([verdict.rule, verdict.status.upper(), str(len(verdict.checks)),
                     _short(rule_title(verdict.rule), 58), _short(", ".join(scenarios), 50)])
    return "\n".join(_table(["rule", "verdict", "checks", "title", "scenarios"], rows))


def console(results: list[ScenarioResult]) -> str:
    totals = summary(results)
    parts = [scenario_table(r) for r in results]
    parts.append(rule_table(results))
    parts.append(
        f"{totals['scenarios']} scenarios, {totals['checks']} checks, "
        f"{totals['checks_failed']} failed; {totals['rules_covered']}/{len(RULE_IDS)} rules "
        f"covered; {totals['violations_detected']}/{totals['violations_expected']} deliberate "
        f"violations detected; {totals['seconds']:.1f} s of scenario time. "
        f"{totals['status'].upper()}")
    return "\n\n".join(parts)


# -- JSON --------------------------------------------------------------------------------------
def check_json(check: CheckResult) -> dict[str, Any]:
    return {"scenario": check.scenario, "id": check.check_id, "title": check.title,
            "kind": check.kind, "rules": list(check.rules), "status": check.status,
            "expect": check.expect, "observed": check.observed,
            "negative_control": check.negative_control, "evidence": check.evidence,
            "seconds": round(check.seconds, 3)}


def to_json(results: list[ScenarioResult]) -> dict[str, Any]:
    texts = rule_texts()
    return {
        "format": "teddy-scenarios/1",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "summary": summary(results),
        "scenarios": [{
            "name": r.scenario.name, "title": r.scenario.title, "story": r.scenario.story,
            "file": str(r.scenario.path), "status": r.status, "seconds": round(r.seconds, 2),
            "negative_control": r.scenario.negative_control,
            "variant": {"toy": r.scenario.toy_variant, "cloud": r.scenario.cloud_variant},
            "error": r.error, "log": r.log} for r in results],
        "checks": [check_json(c) for r in results for c in r.checks],
        "rules": {v.rule: {"title": rule_title(v.rule), "text": texts[v.rule],
                           "status": v.status, "checks": len(v.checks)}
                  for v in rule_verdicts(results)},
    }


def write_json(results: list[ScenarioResult], path: Path) -> None:
    path.write_text(json.dumps(to_json(results), indent=2) + "\n", "utf-8")


# -- JUnit -------------------------------------------------------------------------------------
def write_junit(results: list[ScenarioResult], path: Path) -> None:
    suites = ET.Element("testsuites", name="teddy-scenarios",
                        tests=str(sum(len(r.checks) for r in results)),
                        failures=str(sum(c.status == "fail" for r in results for c in r.checks)))
    for result in results:
        suite = ET.SubElement(
            suites, "testsuite", name=result.scenario.name, tests=str(len(result.checks)),
            failures=str(sum(c.status == "fail" for c in result.checks)),
            errors="1" if result.error else "0", time=f"{result.seconds:.3f}")
        for check in result.checks:
            case = ET.SubElement(suite, "testcase", classname=f"scenarios.{result.scenario.name}",
                                 name=f"{check.check_id} [{' '.join(check.rules)}]",
                                 time=f"{check.seconds:.3f}")
            ET.SubElement(case, "system-out").text = check.evidence
            if check.status == "fail":
                wanted = ("the rule to hold" if check.expect == "hold"
                          else "the deliberate violation to be detected")
                failure = ET.SubElement(case, "failure",
                                        message=f"expected {wanted}, observed {check.observed}")
                failure.text = check.evidence
        if result.error:
            ET.SubElement(suite, "system-err").text = result.error
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


# -- HTML --------------------------------------------------------------------------------------
STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;margin:0;
background:#f6f7f9}main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.8rem;margin:.2em 0}h2{margin-top:2em}h3{margin:.2em 0}
.lead{color:#4a5568}.card{background:#fff;border:1px solid #dde1e7;border-radius:10px;
padding:16px 20px;margin:14px 0}table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #e6e9ee}
th{font-size:.85rem;color:#4a5568;font-weight:600}
.pill{display:inline-block;border-radius:99px;padding:1px 10px;font-size:.8rem;font-weight:700}
.pass{background:#d9f2e2;color:#13522d}.fail{background:#fbdada;color:#7a1111}
.not-covered{background:#eee;color:#555}.neg{background:#fdf0cf;color:#6b4b00}
.big{font-size:2rem;font-weight:700}.stats{display:flex;gap:16px;flex-wrap:wrap}
.stats .card{flex:1;min-width:170px;margin:0}.evidence{font-size:.85rem;color:#333;
word-break:break-word}code{font-size:.85rem}small{color:#666}
"""


def _pill(status: str) -> str:
    css = status.replace(" ", "-")
    return f'<span class="pill {css}">{escape(status.upper())}</span>'


def _what_happened(check: CheckResult) -> str:
    if check.expect == "violation":
        return ("The broken variant was caught: the rule was seen to be broken."
                if check.status == "pass" else
                "The broken variant was NOT caught: this check cannot be trusted.")
    return {"held": "The rule held.", "violated": "The rule was broken.",
            "error": "The check could not be made.", "not run": "The story stopped before this.",
            "not applicable": "This installation cannot make this check."}[check.observed]


def to_html(results: list[ScenarioResult]) -> str:
    totals = summary(results)
    texts = rule_texts()
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           "<meta name=viewport content='width=device-width,initial-scale=1'>",
           "<title>Teddy privacy scenarios report</title>", f"<style>{STYLE}</style></head>",
           "<body><main>", "<h1>Teddy privacy scenarios</h1>",
           f"<p class=lead>Generated {escape(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))}."
           " Each story below drove the real toy, cloud and parent web. Every byte the toy sent "
           "was recorded on its way to the cloud, and the database files were read directly. "
           "Some stories use toys or clouds that break the rules on purpose, to prove the checks "
           "catch them.</p>", "<div class=stats>"]
    for label, value in (
            ("Overall", _pill(totals["status"])),
            ("Rules checked", f"{totals['rules_covered']} of {len(RULE_IDS)}"),
            ("Checks passed", f"{totals['checks'] - totals['checks_failed']} of "
                              f"{totals['checks']}"),
            ("Deliberate violations caught", f"{totals['violations_detected']} of "
                                             f"{totals['violations_expected']}")):
        out.append(f"<div class=card><small>{escape(label)}</small><div class=big>{value}</div>"
                   "</div>")
    out.append("</div><h2>Rule by rule</h2><div class=card><table><thead><tr><th>Rule</th>"
               "<th>What it requires</th><th>Verdict</th><th>Checked in</th></tr></thead><tbody>")
    for verdict in rule_verdicts(results):
        where = ", ".join(sorted({f"<a href='#s-{escape(c.scenario)}'>{escape(c.scenario)}</a>"
                                  for c in verdict.checks}))
        out.append(f"<tr id='r-{verdict.rule}'><td><strong>{verdict.rule}</strong></td>"
                   f"<td>{escape(texts[verdict.rule])}</td><td>{_pill(verdict.status)}</td>"
                   f"<td>{where or '-'}</td></tr>")
    out.append("</tbody></table></div><h2>The stories</h2>")
    for result in results:
        scenario = result.scenario
        neg = (" <span class='pill neg'>NEGATIVE CONTROL: "
               f"{escape(scenario.toy_variant or scenario.cloud_variant or '')}</span>"
               if scenario.negative_control else "")
        out.append(f"<section class=card id='s-{escape(scenario.name)}'><h3>"
                   f"{escape(scenario.title)} {_pill(result.status)}{neg}</h3>"
                   f"<p>{escape(scenario.story)}</p><small>{escape(scenario.name)} · "
                   f"{result.seconds:.1f} s</small>")
        if result.error:
            out.append(f"<p class='pill fail'>Stopped: {escape(result.error)}</p>")
        out.append("<table><thead><tr><th>Check</th><th>Rules</th><th>Outcome</th>"
                   "<th>Evidence</th></tr></thead><tbody>")
        for check in result.checks:
            rules = " ".join(f"<a href='#r-{r}'>{r}</a>" for r in check.rules)
            out.append(f"<tr><td>{escape(check.title)}</td><td>{rules}</td>"
                       f"<td>{_pill(check.status)}<br><small>{escape(_what_happened(check))}"
                       f"</small></td><td class=evidence>{escape(check.evidence)}</td></tr>")
        out.append("</tbody></table></section>")
    out.append("</main></body></html>")
    return "\n".join(out)


def write_html(results: list[ScenarioResult], path: Path) -> None:
    path.write_text(to_html(results), "utf-8")
