"""What the toy understands, for people: `teddy device sentences`.

Printed from the same parsed templates as the matcher and the recogniser
grammars, so the list can never drift from what the toy really accepts.
"""

from __future__ import annotations

from device.nlu.templates import Templates, expand_templates

UNKNOWN_HINT = "not a sentence the toy knows; `teddy device sentences` lists them"


def template_lines(templates: Templates, intent: str | None = None) -> list[str]:
    """Each intent, its templates, then the slot lists they use."""
    lines: list[str] = []
    used_lists: dict[str, None] = {}
    for name in templates.intents:
        if intent is not None and name != intent:
            continue
        lines.append(f"{name}:")
        for sentence in templates.sentences:
            if sentence.intent == name:
                fixed = "".join(f"  ({k}={v})" for k, v in sentence.fixed_slots)
                lines.append(f"  {sentence.source}{fixed}")
                for list_name in _lists_in(sentence.source):
                    used_lists.setdefault(list_name, None)
    if used_lists:
        lines.append("")
        lines.append("lists:")
    for list_name in used_lists:
        values = templates.lists[list_name]
        spoken = ", ".join(sorted({str(v.value) for v in values}, key=str))
        lines.append(f"  {{{list_name}}}: {spoken}")
    return lines


def _lists_in(source: str) -> list[str]:
    names = []
    for part in source.split("{")[1:]:
        names.append(part.split("}")[0].split(":")[0])
    return names


def sentence_rows(templates: Templates, intent: str | None = None) -> list[dict]:
    """Every sentence the toy accepts, with its intent and slots."""
    return [{"text": e.text, "intent": e.intent, "slots": e.slots}
            for e in expand_templates(templates) if intent is None or e.intent == intent]
