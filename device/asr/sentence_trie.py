"""The toy's sentences as a character prefix tree, for constrained decoding.

Built from the same expanded templates as the matcher and the PocketSphinx /
Vosk grammars. A neural decoder whose word pieces may be split anywhere asks
the tree which pieces continue some sentence from where it has got to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ROOT = 0


@dataclass
class _Node:
    children: dict[str, int] = field(default_factory=dict)
    sentence: str | None = None  # set where a whole sentence ends


class SentenceTrie:
    """Every sentence, spelled " word word ..." (each word after a space)."""

    def __init__(self, sentences: Iterable[str]) -> None:
        self._nodes: list[_Node] = [_Node()]
        for sentence in sentences:
            words = sentence.lower().split()
            if not words:
                continue
            node = ROOT
            for char in "".join(f" {word}" for word in words):
                node = self._child(node, char, create=True)
            self._nodes[node].sentence = " ".join(words)
        self._pieces: PieceTrie | None = None
        self._allowed: dict[int, list[tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def _child(self, node: int, char: str, create: bool = False) -> int:
        children = self._nodes[node].children
        found = children.get(char)
        if found is None and create:
            found = children[char] = len(self._nodes)
            self._nodes.append(_Node())
        return -1 if found is None else found

    def walk(self, node: int, text: str) -> int:
        """The node after spelling `text` from `node`, or -1 off the tree."""
        for char in text:
            node = self._child(node, char)
            if node < 0:
                return -1
        return node

    def sentence_at(self, node: int) -> str | None:
        return self._nodes[node].sentence

    def at_word_boundary(self, node: int) -> bool:
        own = self._nodes[node]
        return node != ROOT and (own.sentence is not None or " " in own.children)

    def use_pieces(self, pieces: PieceTrie) -> None:
        self._pieces = pieces
        self._allowed = {}

    def allowed(self, node: int) -> list[tuple[int, int]]:
        """(piece id, node after it) for every piece that stays on the tree."""
        if self._pieces is None:
            raise RuntimeError("use_pieces() first")
        cached = self._allowed.get(node)
        if cached is None:
            cached = []
            stack = [(ROOT, node)]
            while stack:
                piece_node, here = stack.pop()
                for piece_id in self._pieces.ids_at(piece_node):
                    cached.append((piece_id, here))
                for char, piece_child in self._pieces.children(piece_node).items():
                    nxt = self._child(here, char)
                    if nxt >= 0:
                        stack.append((piece_child, nxt))
            self._allowed[node] = cached
        return cached


class PieceTrie:
    """A tokenizer's vocabulary, spelled in the trie's alphabet."""

    def __init__(self, spellings: dict[int, str]) -> None:
        self._children: list[dict[str, int]] = [{}]
        self._ids: list[list[int]] = [[]]
        for piece_id, text in spellings.items():
            node = ROOT
            for char in text:
                nxt = self._children[node].get(char)
                if nxt is None:
                    nxt = self._children[node][char] = len(self._children)
                    self._children.append({})
                    self._ids.append([])
                node = nxt
            if node != ROOT:
                self._ids[node].append(piece_id)

    def children(self, node: int) -> dict[str, int]:
        return self._children[node]

    def ids_at(self, node: int) -> list[int]:
        return self._ids[node]
