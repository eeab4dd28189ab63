"""Checking uploaded documents and photos without keeping them.

An upload is held in memory only (`CappedSpool`, never Werkzeug's temporary file), at most
`MAX_PHOTO_BYTES` of it: the rest of a larger file is counted and dropped, so the form can
say how large it was and be shown again. The check reads a photo's header, then decodes it
downscaled (a JPEG at a fraction of its size, straight from the compressed data) to at most
`CHECK_SIDE` pixels, turned the way the phone held it, and re-encoded without any metadata:
no EXIF, no GPS position, no camera serial. That small copy is all the check looks at; the
uploaded bytes, the request's copy and the buffer are overwritten with zeros before the request
ends. Nothing is stored.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import IO

from flask import Request
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from cloud.upload_limits import MAX_PHOTO_BYTES

# The longest side of the copy a check looks at: an ID page stays readable, a face clear.
CHECK_SIDE = 1600
CHECK_JPEG_QUALITY = 85
# Larger than any camera takes; refused from the header, before anything is decoded.
MAX_IMAGE_SIDE = 12000
# PNG and HEIC decode at full size (a JPEG decodes reduced): bound the memory that takes
# (50 megapixels are 150 MB of RGB).
MAX_FULL_DECODE_PIXELS = 50_000_000
PHOTO_KINDS = {"JPEG": "JPEG", "PNG": "PNG", "HEIF": "HEIC"}
EXIF_ORIENTATION = 0x0112
SIDEWAYS = frozenset({5, 6, 7, 8})  # orientations that turn the picture a quarter
class UploadProblem(ValueError):
    """The upload is missing or is not the kind of document asked for."""


class CappedSpool(io.BytesIO):
    """An uploaded file's bytes, in memory, up to `cap`; beyond it they are only counted."""

    def __init__(self, cap: int = MAX_PHOTO_BYTES) -> None:
        super().__init__()
        self.cap = cap
        self.received = 0
        self._position = 0  # where the writer thinks it is, past the cap too

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        size = len(data)
        room = self.cap - self._position
        if room > 0:
            super().write(bytes(data[:room]))
        self._position += size
        self.received = max(self.received, self._position)
        return size

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = super().seek(offset, whence)
        return self._position


class InMemoryUploads(Request):
    """Flask's request, with every uploaded file held in a `CappedSpool`: in memory, at most
    `MAX_PHOTO_BYTES`, never in a temporary file on disk."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None,
                         content_length: int | None = None) -> IO[bytes]:
        return CappedSpool()


@cache
def heic_supported() -> bool:
    """HEIC (an iPhone's usual format) opens through pillow-heif where it is installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo as the check sees it: its kind and size as taken, and the small clean copy."""

    kind: str
    width: int
    height: int
    copy: bytes
    copy_width: int
    copy_height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height


def photo_for_check(data: bytes | bytearray, label: str) -> CheckedPhoto:
    """Decode a JPEG, PNG or HEIC photo downscaled, turned upright, without its metadata.

    Raises UploadProblem, in words a parent can act on, for anything else."""
    kinds = "JPEG, PNG or HEIC" if heic_supported() else "JPEG or PNG"
    try:
        with Image.open(io.BytesIO(data), formats=tuple(PHOTO_KINDS)) as image:
            kind = PHOTO_KINDS[str(image.format)]
            width, height = image.size
            if max(width, height) > MAX_IMAGE_SIDE:
                raise UploadProblem(f"The photo for {label} is larger than any camera takes "
                                    f"({width}×{height} pixels).")
            if image.getexif().get(EXIF_ORIENTATION, 1) in SIDEWAYS:
                width, height = height, width  # the phone was held the other way
            if kind == "JPEG":
                # Decode straight to 1/2, 1/4 or 1/8 size: less memory and time than decoding
                # all of a 12-megapixel photo and shrinking it afterwards.
                shrink = CHECK_SIDE / max(image.size)
                image.draft("RGB", (math.ceil(image.size[0] * shrink),
                                    math.ceil(image.size[1] * shrink)))
            elif width * height > MAX_FULL_DECODE_PIXELS:
                raise UploadProblem(f"The photo for {label} has too many pixels to check: "
                                    "send it as a JPEG, or a smaller one.")
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((CHECK_SIDE, CHECK_SIDE))
            pixels = upright.convert("RGB")
    except UploadProblem:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as exc:
        raise UploadProblem(f"The file for {label} is not a photo we can read: use a "
                            f"{kinds} image.") from exc
    out = io.BytesIO()
    # A new image from the pixels alone: no EXIF, XMP, ICC profile or comment carries over.
    Image.frombytes("RGB", pixels.size, pixels.tobytes()).save(
        out, "JPEG", quality=CHECK_JPEG_QUALITY)
    return CheckedPhoto(kind, width, height, out.getvalue(), pixels.width, pixels.height)


def is_pdf(data: bytes | bytearray) -> bool:
    return data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]


def too_large_words(label: str, size: int | None = None) -> str:
    limit = MAX_PHOTO_BYTES // (1024 * 1024)
    was = f" is {size / (1024 * 1024):.0f} MB" if size else " was too large"
    return (f"The file for {label}{was}; files up to {limit} MB are accepted. A phone photo "
            "is usually well under that: choose the photo again, or a smaller copy of it.")


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
        sent = stream.received if isinstance(stream, CappedSpool) else size
        if sent > MAX_PHOTO_BYTES:
            raise UploadProblem(too_large_words(label, sent))
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
