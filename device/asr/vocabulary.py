"""Read the word list of a Vosk model, to check grammars against it.

Small Vosk models ship no words.txt; the word symbol table is embedded in
graph/Gr.fst (OpenFst binary: a symbol table is a magic number, a name, then
`size` entries of length-prefixed UTF-8 word and 64-bit id).
"""

from __future__ import annotations

import struct
from pathlib import Path

_SYMBOL_TABLE_MAGIC = 2125658996
_HEADER_SCAN_BYTES = 4096


def read_vosk_vocabulary(model_dir: str | Path) -> set[str]:
    """All words the model can recognise."""
    model = Path(model_dir)
    for words_txt in (model / "graph" / "words.txt", model / "words.txt"):
        if words_txt.is_file():
            return {line.split()[0] for line in words_txt.read_text("utf-8").splitlines() if line}
    grammar = model / "graph" / "Gr.fst"
    if not grammar.is_file():
        raise FileNotFoundError(f"{model}: no words.txt or graph/Gr.fst to read words from")
    with grammar.open("rb") as handle:
        head = handle.read(_HEADER_SCAN_BYTES)
        magic = struct.pack("<i", _SYMBOL_TABLE_MAGIC)
        # The output symbol table follows the FST header; take the last one
        # in the header area (input and output tables may both be present).
        offset = head.rfind(magic)
        if offset < 0:
            raise ValueError(f"{grammar}: no embedded word symbol table")
        handle.seek(offset + 4)
        (name_length,) = struct.unpack("<i", handle.read(4))
        handle.seek(name_length, 1)
        _available, size = struct.unpack("<qq", handle.read(16))
        words: set[str] = set()
        for _ in range(size):
            (length,) = struct.unpack("<i", handle.read(4))
            words.add(handle.read(length).decode("utf-8"))
            handle.seek(8, 1)
    return words
