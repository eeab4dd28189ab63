"""The rulebook: every privacy rule's ID, title, full text and legal sources.

One source, `scenarios/rules.yaml`, shipped inside the package. Scenarios name rules by ID,
reports quote the full text, and `docs/rules.md` is rendered from it (`render_markdown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

RULES_YAML = Path(__file__).resolve().parent / "rules.yaml"


class RulebookError(ValueError):
    """rules.yaml is malformed; the message says which rule and which field."""


@dataclass(frozen=True)
class Rule:
    id: str
    group: str
    title: str
    text: str
    sources: tuple[str, ...]
    amended: str | None = None

    def full_text(self) -> str:
        return f"{self.text} ({'; '.join(self.sources)})"


@dataclass(frozen=True)
class Rulebook:
    revision: int
    changes: str
    sources: dict[str, str]
    groups: dict[str, str]
    rules: dict[str, Rule]


def _words(value: Any) -> str:
    return " ".join(str(value).split())


def parse_rulebook(raw: Any) -> Rulebook:
    """Validate the YAML document: sequential IDs R01.., known groups, text and sources."""
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise RulebookError("rules.yaml needs a 'rules' list")
    groups = {str(g["id"]): _words(g["title"]) for g in raw.get("groups", [])}
    rules: dict[str, Rule] = {}
    for number, entry in enumerate(raw["rules"], 1):
        expected = f"R{number:02d}"
        if not isinstance(entry, dict) or entry.get("id") != expected:
            raise RulebookError(f"rule #{number} must have id {expected}")
        missing = [k for k in ("group", "title", "text", "sources") if not entry.get(k)]
        if missing:
            raise RulebookError(f"{expected} lacks {', '.join(missing)}")
        if entry["group"] not in groups:
            raise RulebookError(f"{expected}: unknown group {entry['group']!r}")
        rules[expected] = Rule(expected, str(entry["group"]), _words(entry["title"]),
                               _words(entry["text"]),
                               tuple(_words(s) for s in entry["sources"]),
                               _words(entry["amended"]) if entry.get("amended") else None)
    return Rulebook(int(raw.get("revision", 1)), _words(raw.get("changes", "")),
                    {str(k): _words(v) for k, v in (raw.get("sources") or {}).items()},
                    groups, rules)


@cache
def rulebook() -> Rulebook:
    return parse_rulebook(yaml.safe_load(RULES_YAML.read_text("utf-8")))


RULE_IDS: tuple[str, ...] = tuple(rulebook().rules)


def rule_texts() -> dict[str, str]:
    """Rule ID -> full text with its sources, as reports quote it."""
    return {rid: rule.full_text() for rid, rule in rulebook().rules.items()}


def rule_title(rule_id: str) -> str:
    rule = rulebook().rules.get(rule_id)
    return rule.title if rule else rule_id


def is_rule(rule_id: object) -> bool:
    return isinstance(rule_id, str) and rule_id in rulebook().rules


def render_markdown(book: Rulebook | None = None) -> str:
    """docs/rules.md, generated: `teddy scenarios rules --markdown > docs/rules.md`."""
    book = book or rulebook()
    lines = [
        "# The rulebook: privacy rules a scenario can check",
        "",
        "<!-- Generated from scenarios/rules.yaml by `teddy scenarios rules --markdown`; "
        "edit the YAML, not this file. -->",
        "",
        f"Revision {book.revision}. {book.changes}",
        "",
        "Each rule has a stable ID. Scenarios, reports and tests name the rule they check by this "
        "ID, so a reader can follow a failing check back to the law or principle behind it.",
        "",
        "Sources:",
        "",
        *[f"- **{key}**: {value}" for key, value in book.sources.items()],
    ]
    for group, title in book.groups.items():
        members = [r for r in book.rules.values() if r.group == group]
        if not members:
            continue
        lines += ["", f"## {title}", ""]
        for rule in members:
            lines.append(f"- **{rule.id} {rule.title}.** {rule.text} "
                         f"*Sources: {'; '.join(rule.sources)}.*")
            if rule.amended:
                lines.append(f"  *{rule.amended}*")
    return "\n".join(lines) + "\n"
