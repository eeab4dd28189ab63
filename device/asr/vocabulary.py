"""Read the word list of a Vosk model, to check grammars against it.

Small Vosk models ship no words.txt; the word symbol table is embedded in
graph/Gr.fst (OpenFst binary: a symbol table is a magic number, a name, then
`size` entries of length-prefixed UTF-8 word and 64-bit id).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

SYMBOL_TABLE_MAGIC = 2125658996
_HEADER_SCAN_BYTES = 4096


def read_vosk_word_ids(model_dir: str | Path) -> dict[str, int]:
    """Every word the model can recognise, with the id its decoding graph uses."""
    model = Path(model_dir)
    for words_txt in (model / "graph" / "words.txt", model / "words.txt"):
        if words_txt.is_file():
            ids: dict[str, int] = {}
            for line in words_txt.read_text("utf-8").splitlines():
                if line.strip():
                    word, number = line.split()[:2]
                    ids[word] = int(number)
            return ids
    grammar = model / "graph" / "Gr.fst"
    if not grammar.is_file():
        raise FileNotFoundError(f"{model}: no words.txt or graph/Gr.fst to read words from")
    with grammar.open("rb") as handle:
        head = handle.read(_HEADER_SCAN_BYTES)
        magic = struct.pack("<i", SYMBOL_TABLE_MAGIC)
        # The output symbol table follows the FST header; take the last one
        # in the header area (input and output tables may both be present).
        offset = head.rfind(magic)
        if offset < 0:
            raise ValueError(f"{grammar}: no embedded word symbol table")
        handle.seek(offset + 4)
        (name_length,) = struct.unpack("<i", handle.read(4))
        handle.seek(name_length, 1)
        _available, size = struct.unpack("<qq", handle.read(16))
        # Parse through a memory map: the table has ~500k entries, and
        # per-entry file reads made model loading noticeably slower.
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _parse_symbols(data, handle.tell(), size)


def _parse_symbols(data: mmap.mmap, position: int, size: int) -> dict[str, int]:
    ids: dict[str, int] = {}
    unpack_length = struct.Struct("<i").unpack_from
    unpack_id = struct.Struct("<q").unpack_from
    for _ in range(size):
        (length,) = unpack_length(data, position)
        position += 4
        word = data[position : position + length].decode("utf-8")
        position += length
        (ids[word],) = unpack_id(data, position)
        position += 8
    return ids


def read_vosk_vocabulary(model_dir: str | Path) -> set[str]:
    """All words the model can recognise."""
    return set(read_vosk_word_ids(model_dir))
