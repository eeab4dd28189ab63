"""Read and write the Sphinx-III binary parameter files SphinxTrain needs.

The PocketSphinx wheel ships the en-us model's mixture weights only as a
quantised `sendump` (one byte per weight), while SphinxTrain's `bw` reads a
`mixture_weights` file of floats. This module converts the one into the other
so the model can be adapted with the stock tools.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# sendump stores each weight as -log_1.0001(w) >> MIXW_SHIFT in one byte.
MIXW_SHIFT = 10
LOG_BASE = 1.0001
BYTE_ORDER_MAGIC = 0x11223344


class SphinxFileError(ValueError):
    """A model file is not in the expected Sphinx format."""


def _read_string(data: bytes, offset: int) -> tuple[bytes | None, int]:
    if offset + 4 > len(data):
        raise SphinxFileError("sendump ends inside its header")
    (length,) = struct.unpack_from("<I", data, offset)
    offset += 4
    if length == 0:
        return None, offset
    if length > 4096 or offset + length > len(data):
        raise SphinxFileError("sendump header string has an impossible length")
    return data[offset:offset + length].rstrip(b"\0"), offset + length


def read_sendump(path: Path) -> np.ndarray:
    """Mixture weights from a PocketSphinx sendump: shape (senones, streams, codewords)."""
    data = Path(path).read_bytes()
    title, offset = _read_string(data, 0)
    if title is None or not title.startswith(b"BEGIN FILE FORMAT"):
        raise SphinxFileError(f"{path}: not a sendump file")
    headers: dict[str, str] = {}
    while True:
        text, offset = _read_string(data, offset)
        if text is None:
            break
        key, _, value = text.decode("latin-1").partition(" ")
        headers[key] = value.strip()
    if headers.get("cluster_count", "0") != "0":
        raise SphinxFileError(f"{path}: clustered sendump files are not supported")
    streams = int(headers.get("feature_count", "0"))
    codewords, senones = struct.unpack_from("<II", data, offset)
    offset += 8
    expected = streams * codewords * senones
    body = np.frombuffer(data, dtype=np.uint8, count=len(data) - offset, offset=offset)
    if streams <= 0 or body.size != expected:
        raise SphinxFileError(
            f"{path}: {body.size} weight bytes, expected {streams} x {codewords} x {senones}")
    # Stored stream by stream, codeword by codeword, one byte per senone.
    logs = body.reshape(streams, codewords, senones).astype(np.float64) * (1 << MIXW_SHIFT)
    weights = np.power(LOG_BASE, -logs).transpose(2, 0, 1)
    return weights / weights.sum(axis=2, keepdims=True)


def write_s3_array(path: Path, array: np.ndarray) -> None:
    """Write a float32 array (1-3 dimensions) as a Sphinx-III parameter file, no checksum."""
    if not 1 <= array.ndim <= 3:
        raise SphinxFileError("Sphinx-III files hold 1 to 3 dimensions")
    header = b"s3\nversion 1.0\n"
    # The magic number after "endhdr\n" must start on a 4-byte boundary.
    pad = (-(len(header) + len(b"endhdr\n"))) % 4
    header += b" " * pad + b"endhdr\n"
    values = np.ascontiguousarray(array, dtype="<f4")
    with Path(path).open("wb") as out:
        out.write(header)
        out.write(struct.pack("<I", BYTE_ORDER_MAGIC))
        out.write(struct.pack(f"<{array.ndim}I", *array.shape))
        out.write(struct.pack("<I", values.size))
        out.write(values.tobytes())


def read_s3_array(path: Path, ndim: int) -> np.ndarray:
    """Read a Sphinx-III float parameter file of `ndim` dimensions (no checksum)."""
    data = Path(path).read_bytes()
    end = data.find(b"endhdr\n")
    if not data.startswith(b"s3\n") or end < 0:
        raise SphinxFileError(f"{path}: not a Sphinx-III parameter file")
    offset = end + len(b"endhdr\n")
    (magic,) = struct.unpack_from("<I", data, offset)
    if magic != BYTE_ORDER_MAGIC:
        raise SphinxFileError(f"{path}: big-endian files are not supported")
    dims = struct.unpack_from(f"<{ndim}I", data, offset + 4)
    (count,) = struct.unpack_from("<I", data, offset + 4 + 4 * ndim)
    if count != int(np.prod(dims)):
        raise SphinxFileError(f"{path}: {count} values do not fill {dims}")
    start = offset + 8 + 4 * ndim
    return np.frombuffer(data, dtype="<f4", count=count, offset=start).reshape(dims)
