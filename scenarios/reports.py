"""Reports of a scenario run: a console table, JSON, JUnit XML and a self-contained HTML page."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from scenarios.rules import RULE_IDS, rule_texts, rule_title, rulebook
from scenarios.runner import CheckResult, ScenarioResult
from scenarios.scoring import Score

EVIDENCE_WIDTH = 70
REPO_ROOT = Path(__file__).resolve().parent.parent


def _version() -> str:
    try:
        return metadata.version("teddy")
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        result = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return "unknown (no git)"
    if result.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True, timeout=5,
                           check=False).stdout.strip()
    return result.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


@dataclass(frozen=True)
class RunInfo:
    """What was run, by what, where and how long: printed at the top of every report."""
    version: str
    commit: str
    command: str
    generated_at: str
    wall_s: float | None = None
    load: tuple[float, float, float] | None = None
    cpus: int | None = None
    rulebook_revision: int = 0
    target: str = "Teddy's own toy agent and cloud (white box)"
    score: Score | None = None
    # The database the cloud under test kept its data in: "sqlite" or "postgresql".
    backend: str = "sqlite"
    backend_detail: str = "SQLite (one file per story)"

    @classmethod
    def collect(cls, *, wall_s: float | None = None, score: Score | None = None,
                target: str | None = None, backend: str = "sqlite",
                backend_detail: str | None = None) -> RunInfo:
        argv = ["teddy", *sys.argv[1:]] if sys.argv and (
            sys.argv[0].endswith("teddy") or sys.argv[0].endswith("__main__.py")) else sys.argv
        return cls(_version(), _commit(), shlex.join(argv),
                   time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), wall_s,
                   os.getloadavg(), os.cpu_count(), rulebook().revision,
                   target or cls.target, score, backend, backend_detail or cls.backend_detail)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "commit": self.commit, "command": self.command,
                "generated_at": self.generated_at, "wall_s": self.wall_s,
                "load_average": list(self.load) if self.load else None, "cpus": self.cpus,
                "rulebook_revision": self.rulebook_revision, "target": self.target,
                "backend": self.backend, "backend_detail": self.backend_detail}


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    status: str  # pass | fail | not applicable | not checkable | not covered
    checks: tuple[CheckResult, ...]
    # In words: "checked", "not applicable (why)", "not checkable through this interface
    # (why)" or "not checked by the stories run".
    coverage: str = "checked"
    # Whether a clean story of this run names the rule: only those rules decide whether the
    # run is complete (a run of one story is judged on that story's rules).
    in_scope: bool = False


# Evidence of a check the target's interface could not reach (scenarios/target.py).
BLACK_BOX_MARK = "black-box target does not give"


def rule_verdicts(results: list[ScenarioResult]) -> list[RuleVerdict]:
    """Each rule's verdict and coverage. Only clean stories can certify a rule; negative
    controls calibrate the checks, and a missed planted violation still fails the rule."""
    checks = [c for r in results for c in r.checks]
    verdicts = []
    for rule in RULE_IDS:
        mine = tuple(c for c in checks if rule in c.rules)
        clean = [c for c in mine if not c.negative_control]
        observed = [c for c in clean if c.status != "not applicable"]
        reasons = sorted({c.evidence for c in clean if c.status == "not applicable"})
        if any(c.status == "fail" for c in mine):
            status, coverage = "fail", "checked"
        elif observed:
            status, coverage = "pass", "checked"
        elif not clean:
            status, coverage = "not covered", "not checked by the stories run"
        elif any(BLACK_BOX_MARK in reason for reason in reasons):
            status = "not checkable"
            coverage = f"not checkable through this interface ({reasons[0]})"
        else:
            status, coverage = "not applicable", f"not applicable ({reasons[0]})"
        verdicts.append(RuleVerdict(rule, status, mine, coverage, bool(clean)))
    return verdicts


def run_status(results: list[ScenarioResult]) -> str:
    """error (the harness could not run a story), fail, incomplete (a rule the stories set out
    to check could not be checked), or pass."""
    if any(r.status == "error" for r in results):
        return "error"
    if any(r.status == "fail" for r in results):
        return "fail"
    if any(v.in_scope and v.status in ("not checkable", "not covered")
           for v in rule_verdicts(results)):
        return "incomplete"
    return "pass"


def summary(results: list[ScenarioResult]) -> dict[str, Any]:
    checks = [c for r in results for c in r.checks]
    verdicts = rule_verdicts(results)
    negative = [c for c in checks if c.negative_control and c.expect == "violation"]
    return {
        "scenarios": len(results),
        "scenarios_failed": sum(r.status == "fail" for r in results),
        "scenarios_in_error": sum(r.status == "error" for r in results),
        "checks": len(checks),
        "checks_failed": sum(c.status == "fail" for c in checks),
        "checks_not_applicable": sum(c.status == "not applicable" for c in checks),
        "rules_covered": sum(v.status in ("pass", "fail") for v in verdicts),
        "rules_not_applicable": [v.rule for v in verdicts if v.status == "not applicable"],
        "rules_not_checkable": [v.rule for v in verdicts if v.status == "not checkable"],
        "rules_failed": [v.rule for v in verdicts if v.status == "fail"],
        "rules_not_covered": [v.rule for v in verdicts if v.status == "not covered"],
        "violations_expected": len(negative),
        "violations_detected": sum(c.status == "pass" for c in negative),
        # Planted violations aimed at checks this target or backend cannot make (the SQLite
        # file scans on PostgreSQL): neither caught nor missed.
        "violations_not_applicable": sum(c.status == "not applicable" for c in negative),
        "seconds": round(sum(r.seconds for r in results), 2),
        "status": run_status(results),
    }


def _not_applicable_note(totals: dict[str, Any]) -> str:
    count = totals["violations_not_applicable"]
    return f" ({count} aimed at checks not applicable here)" if count else ""


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
                     _short(rule_title(verdict.rule), 50), _short(verdict.coverage, 60),
                     _short(", ".join(scenarios), 40)])
    return "\n".join(_table(["rule", "verdict", "checks", "title", "coverage", "scenarios"],
                            rows))


def detection_table(score: Score) -> str:
    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    rows = [[k.kind, f"{k.caught}/{k.aimed}", rate(k.detection_rate),
             f"{k.false_alarms}/{k.clean}", rate(k.false_alarm_rate)] for k in score.kinds]
    lines = _table(["check kind", "caught", "detection", "failed clean", "false alarms"], rows)
    if score.mutants:
        killed = sum(m.killed for m in score.mutants)
        lines.append(f"mutants caught: {killed}/{len(score.mutants)}")
        lines += [f"  {'CAUGHT' if m.killed else 'MISSED'}  {m.mutant} in {m.scenario}: "
                  f"{m.description}" for m in score.mutants]
    lines += [f"  N/A     {name}: {reason}" for name, reason in
              sorted(score.not_applicable.items())]
    if score.classes:
        lines += ["", "Detection per violation class:"]
        lines += _table(["class", "violators run", "caught"],
                        [[c.name, str(len(c.runs)), f"{c.caught}/{len(c.runs)}"]
                         for c in score.classes])
        for group in score.classes:
            for run in group.runs:
                lines.append(f"  {'CAUGHT' if run.caught else 'MISSED'}  {group.name}: "
                             f"{run.side} {run.variant} ({run.scenario})")
                lines += [f"          {_short(line, 150)}" for line in run.brief or run.findings]
    return "\n".join(lines)


def console(results: list[ScenarioResult], run: RunInfo | None = None) -> str:
    totals = summary(results)
    parts = [scenario_table(r) for r in results]
    parts.append(rule_table(results))
    if run is not None and run.score is not None:
        parts.append(detection_table(run.score))
    if run is not None:
        parts.append(f"Backend: {run.backend_detail}")
    parts.append(
        f"{totals['scenarios']} scenarios, {totals['checks']} checks, "
        f"{totals['checks_failed']} failed; {totals['rules_covered']}/{len(RULE_IDS)} rules "
        f"covered; {totals['violations_detected']}/{totals['violations_expected']} deliberate "
        f"violations detected{_not_applicable_note(totals)}; "
        f"{totals['seconds']:.1f} s of scenario time. "
        f"{totals['status'].upper()}")
    return "\n\n".join(parts)


# -- JSON --------------------------------------------------------------------------------------
def check_json(check: CheckResult) -> dict[str, Any]:
    return {"scenario": check.scenario, "id": check.check_id, "title": check.title,
            "kind": check.kind, "rules": list(check.rules), "status": check.status,
            "expect": check.expect, "observed": check.observed,
            "negative_control": check.negative_control, "evidence": check.evidence,
            "seconds": round(check.seconds, 3)}


def to_json(results: list[ScenarioResult], run: RunInfo | None = None) -> dict[str, Any]:
    texts = rule_texts()
    return {
        "format": "teddy-scenarios/1",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": run.to_json() if run else None,
        "detection": run.score.to_json() if run and run.score else None,
        "summary": summary(results),
        "scenarios": [{
            "name": r.scenario.name, "title": r.scenario.title, "story": r.scenario.story,
            "file": str(r.scenario.path), "status": r.status, "seconds": round(r.seconds, 2),
            "negative_control": r.scenario.negative_control,
            "variant": {"toy": r.scenario.toy_variant, "cloud": r.scenario.cloud_variant},
            "error": r.error, "log": r.log, "timeline": r.timeline} for r in results],
        "checks": [check_json(c) for r in results for c in r.checks],
        "rules": {v.rule: {"title": rule_title(v.rule), "text": texts[v.rule],
                           "status": v.status, "coverage": v.coverage,
                           "in_scope": v.in_scope, "checks": len(v.checks)}
                  for v in rule_verdicts(results)},
    }


def write_json(results: list[ScenarioResult], path: Path, run: RunInfo | None = None) -> None:
    path.write_text(json.dumps(to_json(results, run), indent=2) + "\n", "utf-8")


# -- JUnit -------------------------------------------------------------------------------------
def write_junit(results: list[ScenarioResult], path: Path, run: RunInfo | None = None) -> None:
    texts = rule_texts()
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
            properties = ET.SubElement(case, "properties")
            for rule in check.rules:
                ET.SubElement(properties, "property", name=rule, value=texts[rule])
            ET.SubElement(case, "system-out").text = check.evidence
            if check.status == "not applicable":
                ET.SubElement(case, "skipped", message=check.evidence)
            elif check.status == "fail":
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
*{box-sizing:border-box}body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
color:#1d2430;margin:0;background:#f6f7f9}main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.7rem;margin:.2em 0}h2{margin-top:1.6em;font-size:1.35rem}h3{margin:.2em 0;
font-size:1.1rem}.lead{color:#3d4757}.card{background:#fff;border:1px solid #d5dae1;
border-radius:10px;padding:14px 16px;margin:12px 0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;
padding:6px 8px;border-bottom:1px solid #e3e7ec}th{font-size:.85rem;color:#3d4757;
font-weight:600}.pill{display:inline-block;border-radius:99px;padding:1px 10px;
font-size:.8rem;font-weight:700;white-space:nowrap}.pass{background:#d4efdd;color:#0f4a27}
.fail,.error{background:#f9d6d6;color:#6e0f0f}.incomplete,.not-checkable{background:#fbe9c8;color:#5a3a00}.not-covered,.not-applicable,.na{background:#e8e8e8;color:#3a3a3a}
.caught{background:#fde9b8;color:#553b00}.neg{background:#fde9b8;color:#553b00}
.big{font-size:1.7rem;font-weight:700}.stats{display:grid;gap:12px;
grid-template-columns:repeat(auto-fit,minmax(150px,1fr))}.stats .card{margin:0}
.evidence{font-size:.9rem;color:#262626}code{font-size:.85rem;overflow-wrap:anywhere}
small,.muted{color:#4d5562}.meta dt{font-weight:600;color:#3d4757}.meta dd{margin:0 0 6px 0}
ol.timeline{list-style:none;padding:0;margin:8px 0}ol.timeline li{border-left:4px solid #b8c2cf;
padding:4px 10px;margin:6px 0}ol.timeline li.consent{border-color:#c28a00;background:#fff8e6}
ol.timeline li.leak{border-color:#b01515;background:#fdeeee}.flow{display:flex;flex-wrap:wrap;
gap:4px 8px;align-items:baseline}.flow span+span:before{content:"\\2192\\00a0";color:#6b7280}
svg{max-width:100%;height:auto}details>summary{cursor:pointer;font-weight:600}
@media (max-width:640px){main{padding:10px}table.stack thead{display:none}
table.stack tr{display:block;border-bottom:2px solid #d5dae1;padding:6px 0}
table.stack td{display:block;border:0;padding:2px 4px}
table.stack td[data-label]:before{content:attr(data-label)": ";font-weight:600;color:#3d4757}}
"""


def _pill(status: str, css: str | None = None) -> str:
    return f'<span class="pill {css or status.replace(" ", "-")}">{escape(status.upper())}</span>'


def _check_pill(check: CheckResult) -> str:
    if check.observed == "not applicable":
        return _pill("not applicable", "na")
    if check.expect == "violation":
        return (_pill("violation caught", "caught") if check.status == "pass"
                else _pill("violation missed", "fail"))
    return _pill(check.status)


def _what_happened(check: CheckResult) -> str:
    if check.expect == "violation":
        return ("This toy or cloud breaks the rule on purpose, and the check saw it break."
                if check.status == "pass" else
                "This toy or cloud breaks the rule on purpose, and the check did NOT see it: "
                "this check cannot be trusted.")
    return {"held": "The rule held.", "violated": "The rule was broken.",
            "error": "The check could not be made.", "not run": "The story stopped before this.",
            "not applicable": "Cannot be observed on this target or backend (the evidence "
                              "says why)."
            }.get(check.observed, check.observed)


def _td(label: str, content: str, css: str = "") -> str:
    cls = f" class={css}" if css else ""
    return f"<td data-label='{escape(label)}'{cls}>{content}</td>"


def _bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1024:,.0f} KiB"


def bytes_chart(results: list[ScenarioResult], limit: int = 40) -> str:
    """Inline SVG: per turn, raw audio a cloud-listening toy would stream vs bytes Teddy sent."""
    turns = [(r.scenario.name, t) for r in results for t in r.timeline if t["type"] == "turn"]
    turns = [pair for pair in turns if pair[1]["audio_bytes"]][:limit]
    if not turns:
        return "<p class=muted>No turns in this run.</p>"
    import math

    top = max(max(t["audio_bytes"], t["wire_bytes"], 1) for _s, t in turns)
    scale = math.log10(top) + 0.2
    width, height, left, bottom = 640, 240, 48, 24
    step = (width - left - 8) / len(turns)
    bar = max(2.0, step / 2 - 1)

    def y(value: int) -> float:
        return height - bottom - (math.log10(max(value, 1)) / scale) * (height - bottom - 10)

    parts = [f"<svg viewBox='0 0 {width} {height}' role=img aria-labelledby=chart-t "
             f"width={width} height={height}><title id=chart-t>Bytes on the wire per turn "
             "against raw audio, log scale</title>"]
    for power in range(0, int(scale) + 1):
        yy = y(10 ** power)
        parts.append(f"<line x1={left} x2={width - 4} y1={yy:.1f} y2={yy:.1f} stroke='#e3e7ec'/>"
                     f"<text x={left - 6} y={yy + 4:.1f} font-size=10 text-anchor=end "
                     f"fill='#4d5562'>1e{power}</text>")
    for index, (scenario, turn) in enumerate(turns):
        x = left + index * step
        for offset, value, colour, name in ((0, turn["audio_bytes"], "#9aa5b4", "raw audio"),
                                            (bar + 1, turn["wire_bytes"], "#1f6feb", "sent")):
            yy = y(value)
            label = (f"{scenario}: {turn['heard']!r} {name} {value:,} bytes"
                     + (" (estimated)" if name == "raw audio" and turn["audio_estimated"] else ""))
            parts.append(f"<rect x={x + offset:.1f} y={yy:.1f} width={bar:.1f} "
                         f"height={height - bottom - yy:.1f} fill='{colour}'>"
                         f"<title>{escape(label)}</title></rect>")
    parts.append(f"<text x={left} y={height - 6} font-size=11 fill='#4d5562'>turns, in story "
                 "order (grey: raw audio; blue: bytes Teddy's toy sent, headers included)</text>")
    parts.append("</svg>")
    audio = sum(t["audio_bytes"] for _s, t in turns)
    wire = sum(t["wire_bytes"] for _s, t in turns)
    ratio = f"{audio / wire:,.0f}x less" if wire else "nothing at all"
    return ("".join(parts) + f"<p>Over these {len(turns)} turns a toy streaming audio would have "
            f"sent about {_bytes(audio)}; Teddy's toy sent {_bytes(wire)}: {ratio}. Heard clips "
            "are measured; typed turns are estimated as 16 kHz 16-bit speech at 2.5 words/s.</p>")


def _timeline(result: ScenarioResult) -> str:
    if not result.timeline:
        return ""
    items = []
    for event in result.timeline:
        who = f"<small>family {escape(event['family'])}</small> "
        if event["type"] == "consent":
            items.append(f"<li class=consent>{who}<strong>Consent change:</strong> "
                         f"{escape(event['text'])}</li>")
            continue
        sent = (f"{event['wire_bytes']:,} bytes on the wire ({event['body_bytes']} in the "
                "message)" if event["sent"] else
                f"nothing sent ({event['wire_bytes']:,} bytes of other traffic)"
                if event["wire_bytes"] else "nothing sent")
        dropped = (f"; kept on the toy: {', '.join(event['dropped'])}" if event["dropped"]
                   else "")
        leak = event.get("leaked")
        items.append(
            f"<li{' class=leak' if leak else ''}>{who}<div class=flow>"
            f"<span>child says <q>{escape(event['heard'])}</q></span>"
            f"<span>toy: {escape(str(event['intent']))}, {escape(str(event['decision']))}"
            f"{escape(dropped)}</span><span>{escape(sent)}</span>"
            f"<span>answered by {escape(str(event['answered_by']))}: "
            f"<q>{escape(str(event['reply'] or ''))[:160]}</q></span></div>"
            + (f"<small>planted fault: {escape(json.dumps(leak))}</small>" if leak else "")
            + "</li>")
    return ("<details><summary>Timeline: child, toy, wire, cloud</summary>"
            f"<ol class=timeline>{''.join(items)}</ol></details>")


def _run_block(run: RunInfo | None) -> str:
    if run is None:
        return ""
    load = (", ".join(f"{v:.2f}" for v in run.load) if run.load else "unknown")
    wall = f"{run.wall_s:.1f} s" if run.wall_s is not None else "-"
    rows = [("Target", run.target), ("Database backend", run.backend_detail),
            ("Teddy version", run.version), ("Commit", run.commit),
            ("Command", f"<code>{escape(run.command)}</code>"),
            ("Rulebook", f"revision {run.rulebook_revision}"),
            ("Wall time", f"{wall} on {run.cpus} CPUs, load average {load} at the end")]
    body = "".join(f"<dt>{escape(k)}</dt><dd>{v if k == 'Command' else escape(v)}</dd>"
                   for k, v in rows)
    return ("<details class=card><summary>About this run</summary>"
            f"<dl class=meta>{body}</dl></details>")


def _detection(run: RunInfo | None) -> str:
    if run is None or run.score is None:
        return ""

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    out = ["<h2 id=detection>How good are the checks?</h2><div class=card>",
           "<p>Each planted violation (a negative control, or an automated mutant of the real "
           "cloud or toy) is aimed at some check kinds. <em>Caught</em> counts the times a "
           "check of that kind saw the violation; <em>failed clean</em> counts the times it "
           "failed a run where nothing was planted: a false alarm, or a real fault in the "
           "system under test (listed on hover).</p>",
           "<table class=stack><thead><tr><th>Check kind</th><th>Caught</th><th>Detection rate"
           "</th><th>Failed clean runs</th><th>False-alarm rate</th></tr></thead><tbody>"]
    for kind in run.score.kinds:
        missed = ("; missed: " + ", ".join(kind.missed_by)) if kind.missed_by else ""
        alarms = escape(", ".join(kind.alarms), quote=True)
        name = f"<code>{escape(kind.kind)}</code>"
        caught = f"{kind.caught} of {kind.aimed}" + escape(missed)
        clean = f"<span title=\"{alarms}\">{kind.false_alarms} of {kind.clean}</span>"
        out.append(f"<tr>{_td('Check kind', name)}{_td('Caught', caught)}"
                   f"{_td('Detection rate', rate(kind.detection_rate))}"
                   f"{_td('Failed clean runs', clean)}"
                   f"{_td('False-alarm rate', rate(kind.false_alarm_rate))}</tr>")
    out.append("</tbody></table>")
    out.append(_classes(run.score))
    if run.score.mutants:
        killed = sum(m.killed for m in run.score.mutants)
        out.append(f"<h3>Automated mutants: {killed} of {len(run.score.mutants)} caught</h3>"
                   "<table class=stack><thead><tr><th>Mutant</th><th>Breaks</th><th>Replayed in"
                   "</th><th>Outcome</th></tr></thead><tbody>")
        for m in run.score.mutants:
            outcome = (_pill("violation caught", "caught") + "<br><small>"
                       + escape(", ".join(m.caught_by)) + "</small>" if m.killed
                       else _pill("missed", "fail"))
            what = f"<code>{escape(m.mutant)}</code>: {escape(m.description)}"
            out.append(f"<tr>{_td('Mutant', what)}{_td('Breaks', ' '.join(m.breaks))}"
                       f"{_td('Replayed in', escape(m.scenario))}{_td('Outcome', outcome)}</tr>")
        out.append("</tbody></table>")
        if run.score.not_applicable:
            out.append("<p>Not replayed on this backend:</p><ul>" + "".join(
                f"<li><code>{escape(name)}</code>: {escape(reason)}</li>"
                for name, reason in sorted(run.score.not_applicable.items())) + "</ul>")
    else:
        out.append("<p class=muted>Automated mutants were not run; add <code>--mutants</code> "
                   "to replay targeted scenarios against them.</p>")
    out.append("</div>")
    return "\n".join(out)


def _classes(score: Score) -> str:
    """Detection per violation class, with what each caught violator let out, where, and the
    rule it breaks, in the checks' own words."""
    if not score.classes:
        return ""
    caught = sum(c.caught for c in score.classes)
    ran = sum(len(c.runs) for c in score.classes)
    out = [f"<h3 id=classes>Detection per violation class: {caught} of {ran} violators caught"
           "</h3><p>Each class is a kind of wrong a real toy or cloud does. Its violators "
           "are written to break a rule the way a product would; the catalogue must catch "
           "every one.</p><table class=stack><thead><tr><th>Class</th><th>Violators run</th>"
           "<th>Caught</th><th>What left or stayed, where, and which rule</th></tr></thead>"
           "<tbody>"]
    for group in score.classes:
        parts = []
        for item in group.runs:
            pill = (_pill("violation caught", "caught") if item.caught
                    else _pill("missed", "fail"))
            findings = "".join(f"<li>{escape(f)}</li>" for f in item.findings)
            parts.append(f"<p>{pill} <code>{escape(item.variant)}</code> ({escape(item.side)}, "
                         f"story <a href='#s-{escape(item.scenario)}'>{escape(item.scenario)}"
                         f"</a>): {escape(item.does)}</p><ul>{findings}</ul>")
        name = f"<strong>{escape(group.title)}</strong><br><small>{escape(group.name)}</small>"
        out.append(f"<tr>{_td('Class', name)}{_td('Violators run', str(len(group.runs)))}"
                   f"{_td('Caught', f'{group.caught} of {len(group.runs)}')}"
                   f"{_td('What left, where, which rule', ''.join(parts), 'evidence')}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _small(text: str) -> str:
    return f"<br><small>{escape(text)}</small>"


def _rule_rows(verdicts: list[RuleVerdict], texts: dict[str, str]) -> str:
    rows = []
    for verdict in verdicts:
        where = ", ".join(sorted({f"<a href='#s-{escape(c.scenario)}'>{escape(c.scenario)}</a>"
                                  for c in verdict.checks}))
        rows.append(f"<tr id='r-{verdict.rule}'>{_td('Rule', f'<strong>{verdict.rule}</strong>')}"
                    f"{_td('What it requires', escape(texts[verdict.rule]))}"
                    f"{_td('Verdict', _pill(verdict.status) + _small(verdict.coverage))}"
                    f"{_td('Checked in', where or '-')}"
                    "</tr>")
    return ("<table class=stack><thead><tr><th>Rule</th><th>What it requires</th><th>Verdict"
            "</th><th>Checked in</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def to_html(results: list[ScenarioResult], run: RunInfo | None = None) -> str:
    totals = summary(results)
    texts = rule_texts()
    verdicts = rule_verdicts(results)
    covered = [v for v in verdicts if v.status in ("pass", "fail")]
    uncovered = [v for v in verdicts if v.status not in ("pass", "fail")]
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           "<meta name=viewport content='width=device-width,initial-scale=1'>",
           "<title>Teddy privacy scenarios report</title>", f"<style>{STYLE}</style></head>",
           "<body><main>", "<h1>Teddy privacy scenarios</h1>",
           f"<p><strong>Database backend:</strong> {escape(run.backend_detail) if run else '-'}"
           "</p>",
           f"<p class=lead>Generated {escape(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))}."
           " Each story below drove the real toy, cloud and parent web. Every byte the toy sent "
           "was recorded on its way to the cloud, and the cloud's database was read directly "
           "(read-only). "
           "Some stories use toys or clouds that break the rules on purpose, to prove the checks "
           "catch them: there, a caught violation is the good outcome.</p>", _run_block(run),
           "<div class=stats>"]
    for label, value in (
            ("Overall", _pill(totals["status"])),
            ("Backend", escape(run.backend if run else "sqlite")),
            ("Rules checked", f"{totals['rules_covered']} of {len(RULE_IDS)}"),
            ("Checks passed", f"{totals['checks'] - totals['checks_failed']} of "
                              f"{totals['checks']}"),
            ("Deliberate violations caught", f"{totals['violations_detected']} of "
                                             f"{totals['violations_expected']}"
                                             f"{_not_applicable_note(totals)}")):
        out.append(f"<div class=card><small>{escape(label)}</small><div class=big>{value}</div>"
                   "</div>")
    out.append("</div><h2>Bytes on the wire against raw audio</h2><div class=card>"
               + bytes_chart(results) + "</div>")
    out.append(f"<h2>Rules covered ({len(covered)})</h2><div class=card>"
               + _rule_rows(covered, texts) + "</div>")
    if uncovered:
        out.append(f"<details class=card><summary>Rules not covered or not applicable in "
                   f"this run ({len(uncovered)})</summary>" + _rule_rows(uncovered, texts)
                   + "</details>")
    out.append(_detection(run))
    out.append("<h2>The stories</h2>")
    for result in results:
        scenario = result.scenario
        neg = (" <span class='pill neg'>NEGATIVE CONTROL: "
               f"{escape(scenario.toy_variant or scenario.cloud_variant or '')}</span>"
               if scenario.negative_control else "")
        verdict = (_pill("violations caught", "caught")
                   if scenario.negative_control and result.status == "pass"
                   else _pill(result.status))
        out.append(f"<section class=card id='s-{escape(scenario.name)}'><h3>"
                   f"{escape(scenario.title)} {verdict}{neg}</h3>"
                   f"<p>{escape(scenario.story)}</p><small>{escape(scenario.name)} · "
                   f"{result.seconds:.1f} s</small>")
        if result.error:
            out.append(f"<p class='pill fail'>Stopped: {escape(result.error)}</p>")
        out.append(_timeline(result))
        out.append("<table class=stack><thead><tr><th>Check</th><th>Rules</th><th>Outcome</th>"
                   "<th>Evidence</th></tr></thead><tbody>")
        for check in result.checks:
            rules = " ".join(f"<a href='#r-{r}'>{r}</a>" for r in check.rules)
            outcome = (_check_pill(check) + "<br><small>" + escape(_what_happened(check))
                       + "</small>")
            out.append(f"<tr>{_td('Check', escape(check.title))}{_td('Rules', rules)}"
                       f"{_td('Outcome', outcome)}"
                       f"{_td('Evidence', escape(check.evidence), 'evidence')}</tr>")
        out.append("</tbody></table></section>")
    out.append("</main></body></html>")
    return "\n".join(out)


def write_html(results: list[ScenarioResult], path: Path, run: RunInfo | None = None) -> None:
    path.write_text(to_html(results, run), "utf-8")
