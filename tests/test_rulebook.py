"""The rulebook ships inside the project: one YAML source, rendered into docs/rules.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scenarios.rules import (
    RULE_IDS,
    RULES_YAML,
    RulebookError,
    parse_rulebook,
    render_markdown,
    rule_texts,
    rulebook,
)

REPO = Path(__file__).resolve().parent.parent


def test_the_rulebook_has_r01_to_r34_with_text_and_sources() -> None:
    assert tuple(f"R{n:02d}" for n in range(1, 35)) == RULE_IDS
    for rule in rulebook().rules.values():
        assert rule.title and rule.text and rule.sources
    r12 = rulebook().rules["R12"]
    assert "erased" in r12.text and r12.amended
    assert "R12" in rule_texts() and "GDPR 17(1)(b)" in rule_texts()["R12"]


def test_docs_rules_md_is_generated_from_the_yaml_and_up_to_date() -> None:
    on_disk = (REPO / "docs" / "rules.md").read_text("utf-8")
    assert on_disk == render_markdown(), (
        "docs/rules.md is stale: run `teddy scenarios rules --markdown > docs/rules.md`")


def test_the_cli_prints_the_same_markdown() -> None:
    result = subprocess.run([sys.executable, "-m", "teddy", "scenarios", "rules", "--markdown"],
                            capture_output=True, text=True, cwd=REPO, check=True, timeout=60)
    assert result.stdout == render_markdown()


def test_nothing_in_the_project_reads_the_shared_folder() -> None:
    offenders = []
    for folder in ("teddy", "device", "cloud", "scenarios", "docs"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".yaml", ".html") and path.is_file():
                text = path.read_text("utf-8", errors="replace")
                if "../shared" in text or "TEDDY_RULES_FILE" in text:
                    offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d["rules"].pop(3), "must have id R04"),
    (lambda d: d["rules"][0].pop("sources"), "R01 lacks sources"),
    (lambda d: d["rules"][0].update(group="nowhere"), "unknown group"),
])
def test_a_broken_rulebook_is_refused_with_a_clear_message(mutate, problem) -> None:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(RULES_YAML.read_text("utf-8"))
    mutate(raw)
    with pytest.raises(RulebookError, match=problem):
        parse_rulebook(raw)
