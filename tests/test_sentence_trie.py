"""The character prefix tree that constrains the neural decoder."""

from __future__ import annotations

from device.asr.moonshine_engine import _spelling, read_pieces
from device.asr.sentence_trie import ROOT, PieceTrie, SentenceTrie


def _trie() -> SentenceTrie:
    trie = SentenceTrie(["hello teddy", "hello there", "hi teddy"])
    pieces = {10: " hello", 11: " he", 12: "llo", 13: " teddy", 14: " there", 15: " hi",
              16: " t", 17: "eddy", 18: " cat", 19: "x"}
    trie.use_pieces(PieceTrie(pieces))
    return trie


def test_only_pieces_that_continue_a_sentence_are_allowed():
    trie = _trie()
    allowed = dict(trie.allowed(ROOT))
    assert set(allowed) == {10, 11, 15}
    after_hello = allowed[10]
    assert {piece for piece, _ in trie.allowed(after_hello)} == {13, 14, 16}
    assert trie.at_word_boundary(after_hello)


def test_any_split_of_a_word_reaches_the_same_sentence():
    trie = _trie()
    whole = trie.walk(ROOT, " hello teddy")
    assert trie.sentence_at(whole) == "hello teddy"
    node = dict(trie.allowed(ROOT))[11]            # " he"
    node = dict(trie.allowed(node))[12]            # "llo"
    node = dict(trie.allowed(node))[16]            # " t"
    node = dict(trie.allowed(node))[17]            # "eddy"
    assert node == whole
    assert trie.walk(ROOT, " hello cat") == -1
    assert trie.sentence_at(trie.walk(ROOT, " hello")) is None


def test_moonshine_pieces_are_spelt_lower_case_with_word_spaces():
    pieces = read_pieces()
    assert len(pieces) == 32000 and pieces[:3] == [b"<unk>", b"<s>", b"</s>"]
    spelt = {_spelling(p) for p in pieces}
    assert " teddy" in spelt or " ted" in spelt
    assert _spelling(b"<s>") is None
