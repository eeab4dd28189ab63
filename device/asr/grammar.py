"""Recogniser grammars built from the sentence templates.

The JSGF grammar mirrors the template syntax tree (no expansion, so it stays
small however many names are listed); Vosk wants the expanded phrase list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from device.nlu.templates import (
    Node,
    Optional,
    Sequence,
    SlotRef,
    Templates,
    Word,
    expand_templates,
)

# Vosk's out-of-vocabulary word: "[unk]" in most models, "<UNK>" in some
# (the Korean small model); Vosk drops whichever the model lacks.
UNKNOWN_WORDS = ("[unk]", "<UNK>")


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
    return json.dumps([*phrases, *UNKNOWN_WORDS], ensure_ascii=False)


@dataclass(frozen=True)
class WordGraph:
    """A minimal deterministic word automaton accepting the template sentences.

    State `final` is the single accepting state, reached by null (word None)
    transitions, because PocketSphinx FSGs allow only one final state.
    """

    num_states: int
    start: int
    final: int
    arcs: tuple[tuple[int, int, float, str | None], ...]


def build_word_graph(templates: Templates) -> WordGraph:
    """Build the minimised automaton of all expanded sentences.

    Compiling the JSGF directly copies every rule reference (the name list
    once per phrasing), which made decoding ten times slower; sharing
    prefixes and suffixes keeps each word list once per context.
    """
    sentences = sorted({tuple(e.text.split()) for e in expand_templates(templates)})
    # Trie: node -> {word: child}; node 0 is the root.
    children: list[dict[str, int]] = [{}]
    accepting: list[bool] = [False]
    for words in sentences:
        node = 0
        for word in words:
            nxt = children[node].get(word)
            if nxt is None:
                nxt = len(children)
                children.append({})
                accepting.append(False)
                children[node][word] = nxt
            node = nxt
        accepting[node] = True

    # Merge states with identical futures, children before parents.
    canonical: dict[int, int] = {}
    signatures: dict[tuple, int] = {}
    order: list[int] = []
    stack = [(0, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children[node].values())
    for node in order:
        signature = (
            accepting[node],
            tuple(sorted((w, canonical[c]) for w, c in children[node].items())),
        )
        canonical[node] = signatures.setdefault(signature, len(signatures))

    final = len(signatures)
    start = canonical[0]
    arcs: list[tuple[int, int, float, str | None]] = []
    for signature, state in sorted(signatures.items(), key=lambda item: item[1]):
        is_accepting, outgoing = signature
        fanout = len(outgoing) + (1 if is_accepting else 0)
        arcs.extend((state, target, 1.0 / fanout, word) for word, target in outgoing)
        if is_accepting:
            arcs.append((state, final, 1.0 / fanout, None))
    return WordGraph(final + 1, start, final, tuple(arcs))
