"""Load, parse and expand the hassil-style sentence templates.

The templates are the single source of truth: the matcher, the recogniser
grammars and the fixture generator all read the parsed form built here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATES_DIR = Path(__file__).parent / "templates"

SlotValue = str | int


class TemplateError(ValueError):
    """A template file is missing, malformed or ambiguous."""


# --- syntax tree -----------------------------------------------------------


@dataclass(frozen=True)
class Word:
    text: str


@dataclass(frozen=True)
class SlotRef:
    list_name: str
    slot_name: str


@dataclass(frozen=True)
class Sequence:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alternative:
    options: tuple[Sequence, ...]


@dataclass(frozen=True)
class Optional:
    body: Alternative


Node = Word | SlotRef | Sequence | Alternative | Optional


@dataclass(frozen=True)
class ListValue:
    spoken: Alternative
    value: SlotValue


@dataclass(frozen=True)
class SentenceTemplate:
    intent: str
    source: str
    tree: Alternative
    fixed_slots: tuple[tuple[str, SlotValue], ...] = ()


@dataclass(frozen=True)
class Expansion:
    text: str
    intent: str
    slots: dict[str, SlotValue] = field(hash=False)


@dataclass(frozen=True)
class Templates:
    locale: str
    lists: dict[str, tuple[ListValue, ...]]
    sentences: tuple[SentenceTemplate, ...]

    @property
    def intents(self) -> list[str]:
        seen: dict[str, None] = {}
        for sentence in self.sentences:
            seen.setdefault(sentence.intent, None)
        return list(seen)


# --- parsing ---------------------------------------------------------------

_SPECIAL = set("()[]{}|")


def _tokenize(source: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    for char in source:
        if char in _SPECIAL or char.isspace():
            if word:
                tokens.append(word)
                word = ""
            if char in _SPECIAL:
                tokens.append(char)
        else:
            word += char
    if word:
        tokens.append(word)
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.pos = 0

    def fail(self, message: str) -> TemplateError:
        return TemplateError(f"{message} in template {self.source!r}")

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end")
        self.pos += 1
        return token

    def parse(self) -> Alternative:
        tree = self.alternative()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        return tree

    def alternative(self) -> Alternative:
        options = [self.sequence()]
        while self.peek() == "|":
            self.take()
            options.append(self.sequence())
        return Alternative(tuple(options))

    def sequence(self) -> Sequence:
        items: list[Node] = []
        while self.peek() not in (None, "|", ")", "]"):
            items.append(self.item())
        return Sequence(tuple(items))

    def item(self) -> Node:
        token = self.take()
        if token == "(":
            body = self.alternative()
            self.expect(")")
            return body
        if token == "[":
            body = self.alternative()
            self.expect("]")
            return Optional(body)
        if token == "{":
            name = self.take()
            self.expect("}")
            list_name, _, slot_name = name.partition(":")
            return SlotRef(list_name, slot_name or list_name)
        if token in _SPECIAL:
            raise self.fail(f"unexpected {token!r}")
        return Word(token.lower())

    def expect(self, token: str) -> None:
        found = self.take()
        if found != token:
            raise self.fail(f"expected {token!r} but found {found!r}")


def parse_template(source: str) -> Alternative:
    """Parse one template string into its syntax tree."""
    if not isinstance(source, str) or not source.strip():
        raise TemplateError(f"template must be a non-empty string, got {source!r}")
    return _Parser(source).parse()


def _parse_list(name: str, raw: Any) -> tuple[ListValue, ...]:
    if not isinstance(raw, dict) or not isinstance(raw.get("values"), list):
        raise TemplateError(f"list {name!r} needs a 'values' list")
    values: list[ListValue] = []
    for entry in raw["values"]:
        if isinstance(entry, str):
            values.append(ListValue(parse_template(entry), entry.lower()))
        elif isinstance(entry, dict) and set(entry) == {"in", "out"}:
            out = entry["out"]
            if not isinstance(out, str | int) or isinstance(out, bool):
                raise TemplateError(f"list {name!r}: 'out' must be a string or integer")
            values.append(ListValue(parse_template(str(entry["in"])), out))
        else:
            raise TemplateError(f"list {name!r}: bad value {entry!r}")
    return tuple(values)


def _parse_intent(intent: str, raw: Any) -> list[SentenceTemplate]:
    if not isinstance(raw, list):
        raise TemplateError(f"intent {intent!r} needs a list of sentences")
    sentences: list[SentenceTemplate] = []
    for entry in raw:
        if isinstance(entry, str):
            sentences.append(SentenceTemplate(intent, entry, parse_template(entry)))
        elif isinstance(entry, dict) and isinstance(entry.get("sentences"), list):
            fixed = entry.get("slots") or {}
            if not isinstance(fixed, dict):
                raise TemplateError(f"intent {intent!r}: 'slots' must be a mapping")
            fixed_slots = tuple(sorted(fixed.items()))
            for source in entry["sentences"]:
                tree = parse_template(source)
                sentences.append(SentenceTemplate(intent, source, tree, fixed_slots))
        else:
            raise TemplateError(f"intent {intent!r}: bad entry {entry!r}")
    return sentences


def _slot_refs(node: Node) -> Iterator[SlotRef]:
    if isinstance(node, SlotRef):
        yield node
    elif isinstance(node, Sequence):
        for item in node.items:
            yield from _slot_refs(item)
    elif isinstance(node, Alternative):
        for option in node.options:
            yield from _slot_refs(option)
    elif isinstance(node, Optional):
        yield from _slot_refs(node.body)


def parse_templates(raw: Any, locale: str) -> Templates:
    """Build `Templates` from the decoded YAML document of one locale."""
    if not isinstance(raw, dict) or not isinstance(raw.get("intents"), dict):
        raise TemplateError(f"templates for {locale!r} need an 'intents' mapping")
    lists = {name: _parse_list(name, body) for name, body in (raw.get("lists") or {}).items()}
    sentences: list[SentenceTemplate] = []
    for intent, body in raw["intents"].items():
        sentences.extend(_parse_intent(intent, body))
    for sentence in sentences:
        for ref in _slot_refs(sentence.tree):
            if ref.list_name not in lists:
                raise TemplateError(
                    f"intent {sentence.intent!r} uses unknown list {{{ref.list_name}}}"
                )
    return Templates(locale, lists, tuple(sentences))


@functools.cache
def load_templates(locale: str) -> Templates:
    """Load the templates shipped for `locale` ("en", "ko")."""
    path = TEMPLATES_DIR / f"{locale}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))
        raise TemplateError(f"no templates for locale {locale!r} (available: {available})")
    with path.open(encoding="utf-8") as handle:
        return parse_templates(yaml.safe_load(handle), locale)


# --- expansion -------------------------------------------------------------

_Partial = tuple[tuple[str, ...], tuple[tuple[str, SlotValue], ...]]


def _expand(node: Node, lists: dict[str, tuple[ListValue, ...]]) -> list[_Partial]:
    if isinstance(node, Word):
        return [((node.text,), ())]
    if isinstance(node, SlotRef):
        results: list[_Partial] = []
        for value in lists[node.list_name]:
            for words, _ in _expand(value.spoken, lists):
                results.append((words, ((node.slot_name, value.value),)))
        return results
    if isinstance(node, Sequence):
        partials: list[_Partial] = [((), ())]
        for item in node.items:
            tails = _expand(item, lists)
            partials = [(w + tw, s + ts) for w, s in partials for tw, ts in tails]
        return partials
    if isinstance(node, Alternative):
        return [p for option in node.options for p in _expand(option, lists)]
    return [((), ())] + _expand(node.body, lists)


def expand_templates(templates: Templates) -> list[Expansion]:
    """All (sentence, intent, slots) triples, in template order, without duplicates."""
    seen: set[tuple[str, str, tuple[tuple[str, SlotValue], ...]]] = set()
    expansions: list[Expansion] = []
    for sentence in templates.sentences:
        for words, slots in _expand(sentence.tree, templates.lists):
            text = " ".join(words)
            all_slots = tuple(sorted(sentence.fixed_slots + slots))
            key = (text, sentence.intent, all_slots)
            if key in seen:
                continue
            seen.add(key)
            expansions.append(Expansion(text, sentence.intent, dict(all_slots)))
    return expansions


def vocabulary(templates: Templates) -> set[str]:
    """Every word any template or list value can produce."""
    words: set[str] = set()

    def walk(node: Node) -> None:
        if isinstance(node, Word):
            words.add(node.text)
        elif isinstance(node, Sequence):
            for item in node.items:
                walk(item)
        elif isinstance(node, Alternative):
            for option in node.options:
                walk(option)
        elif isinstance(node, Optional):
            walk(node.body)

    for sentence in templates.sentences:
        walk(sentence.tree)
    for values in templates.lists.values():
        for value in values:
            walk(value.spoken)
    return words
