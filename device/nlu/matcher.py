"""Text -> intent by exact match against the expanded template language.

Anything that is not a sentence of the language is `unknown` with no slots:
the toy must never guess the nearest intent for something a child did not say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from device.nlu.templates import Expansion, SlotValue, TemplateError

UNKNOWN = "unknown"

_PUNCTUATION = re.compile(r"[^\w\s']")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ParsedIntent:
    intent: str
    slots: dict[str, SlotValue] = field(default_factory=dict)


def normalise(text: str, locale: str = "en") -> str:
    """Lower-case, drop punctuation and collapse spaces.

    Korean recognisers split words inconsistently ("이야기 해줘" vs
    "이야기해줘"), so for Korean the spaces are dropped altogether.
    """
    text = _PUNCTUATION.sub(" ", text.lower().replace("-", " "))
    text = _SPACES.sub(" ", text).strip()
    if locale == "ko":
        text = text.replace(" ", "")
    return text


class Matcher:
    """Exact, normalised lookup of a sentence in the expanded language."""

    def __init__(self, expansions: list[Expansion], locale: str) -> None:
        self.locale = locale
        self._table: dict[str, ParsedIntent] = {}
        for expansion in expansions:
            key = normalise(expansion.text, locale)
            parsed = ParsedIntent(expansion.intent, dict(expansion.slots))
            existing = self._table.get(key)
            if existing is not None and existing != parsed:
                raise TemplateError(
                    f"ambiguous sentence {expansion.text!r}: {existing} vs {parsed}"
                )
            self._table[key] = parsed

    def __len__(self) -> int:
        return len(self._table)

    def parse(self, text: str) -> ParsedIntent:
        found = self._table.get(normalise(text, self.locale))
        if found is None:
            return ParsedIntent(UNKNOWN, {})
        return ParsedIntent(found.intent, dict(found.slots))
