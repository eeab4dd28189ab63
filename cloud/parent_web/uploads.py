"""Checking uploaded documents without keeping them.

An upload is read into a buffer this module owns, checked, and then both that buffer and the
request's copy are overwritten with zeros before the request ends. Nothing is written to disk:
`security.MAX_UPLOAD_BYTES` keeps every upload inside Werkzeug's in-memory spool.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.datastructures import FileStorage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# JPEG start-of-frame markers carry the image size; C4, C8 and CC share the range but do not.
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class UploadProblem(ValueError):
    """The upload is missing or is not the kind of document asked for."""


@dataclass(frozen=True)
class ImageInfo:
    kind: str
    width: int
    height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height


def image_info(data: bytes | bytearray) -> ImageInfo | None:
    """Kind and size of a PNG or JPEG, read from its header; None for anything else."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("PNG", width, height) if width and height else None
    if data.startswith(JPEG_SIGNATURE):
        return _jpeg_info(data)
    return None


def _jpeg_info(data: bytes | bytearray) -> ImageInfo | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # padding before a marker
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in JPEG_FRAME_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return ImageInfo("JPEG", width, height) if width and height else None
        if length < 2:
            return None
        pos += 2 + length
    return None


def is_pdf(data: bytes | bytearray) -> bool:
    return data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]


@contextmanager
def read_then_wipe(upload: FileStorage | None, label: str) -> Iterator[bytearray]:
    if upload is None or not upload.filename:
        raise UploadProblem(f"Choose a file for {label}.")
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    buffer = bytearray(size)
    try:
        stream.readinto(buffer)  # type: ignore[attr-defined]
        if not buffer:
            raise UploadProblem(f"The file for {label} is empty.")
        yield buffer
    finally:
        buffer[:] = bytes(size)
        stream.seek(0)
        stream.write(bytes(size))
        stream.truncate(0)
        upload.close()
