"""Deterministic sampling of template sentences for fixtures and tests."""

from __future__ import annotations

import random
from collections import defaultdict

from device.nlu.templates import Expansion, expand_templates, load_templates


def sample_sentences(locale: str, per_intent: int, seed: int = 0) -> list[Expansion]:
    """Pick `per_intent` sentences of every intent, spread over slot values.

    Sentences are grouped by their slot values and drawn round-robin across
    the groups, so every slot value is heard before any value is repeated.
    """
    if per_intent < 1:
        raise ValueError("per_intent must be at least 1")
    rng = random.Random(f"{locale}:{seed}")
    by_intent: dict[str, dict[tuple, list[Expansion]]] = defaultdict(lambda: defaultdict(list))
    for expansion in expand_templates(load_templates(locale)):
        key = tuple(sorted(expansion.slots.items()))
        by_intent[expansion.intent][key].append(expansion)

    picked: list[Expansion] = []
    for intent in sorted(by_intent):
        groups = [by_intent[intent][key] for key in sorted(by_intent[intent], key=repr)]
        rng.shuffle(groups)
        for group in groups:
            rng.shuffle(group)
        total = sum(len(group) for group in groups)
        count = min(per_intent, total)
        round_index = 0
        chosen: list[Expansion] = []
        while len(chosen) < count:
            for group in groups:
                if round_index < len(group) and len(chosen) < count:
                    chosen.append(group[round_index])
            round_index += 1
        picked.extend(chosen)
    return picked
