"""Recogniser grammars built from the sentence templates.

The JSGF grammar mirrors the template syntax tree (no expansion, so it stays
small however many names are listed); Vosk wants the expanded phrase list.
"""

from __future__ import annotations

import json
import re

from device.nlu.templates import (
    Alternative,
    Node,
    Optional,
    Sequence,
    SlotRef,
    Templates,
    Word,
    expand_templates,
)

UNKNOWN_WORD = "[unk]"


def _rule_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _jsgf(node: Node) -> str:
    if isinstance(node, Word):
        return node.text
    if isinstance(node, SlotRef):
        return f"<list_{_rule_name(node.list_name)}>"
    if isinstance(node, Sequence):
        return " ".join(_jsgf(item) for item in node.items)
    if isinstance(node, Optional):
        return f"[ {_jsgf(node.body)} ]"
    options = [_jsgf(option) for option in node.options]
    if any(not option for option in options):
        non_empty = [option for option in options if option]
        return f"[ ( {' | '.join(non_empty)} ) ]"
    if len(options) == 1:
        return options[0]
    return "( " + " | ".join(options) + " )"


def build_jsgf(templates: Templates, grammar_name: str = "teddy") -> str:
    """A JSGF grammar accepting exactly the sentences of the templates."""
    lines = ["#JSGF V1.0;", f"grammar {grammar_name};", ""]
    intent_rules: list[str] = []
    for intent in templates.intents:
        rule = f"intent_{_rule_name(intent)}"
        intent_rules.append(f"<{rule}>")
        bodies = [
            f"( {_jsgf(sentence.tree)} )"
            for sentence in templates.sentences
            if sentence.intent == intent
        ]
        lines.append(f"<{rule}> = {' | '.join(bodies)};")
    for list_name, values in templates.lists.items():
        bodies = [f"( {_jsgf(value.spoken)} )" for value in values]
        lines.append(f"<list_{_rule_name(list_name)}> = {' | '.join(bodies)};")
    lines.append(f"public <utterance> = {' | '.join(intent_rules)};")
    return "\n".join(lines) + "\n"


def build_vosk_grammar(templates: Templates) -> str:
    """Vosk's JSON grammar: every template sentence plus the out-of-vocabulary word."""
    phrases = sorted({expansion.text for expansion in expand_templates(templates)})
    return json.dumps([*phrases, UNKNOWN_WORD], ensure_ascii=False)
