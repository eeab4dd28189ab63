"""Reading HTTP requests back out of the bytes a relay captured on the toy's route."""

from __future__ import annotations

import re
from dataclasses import dataclass

REQUEST_LINE = re.compile(rb"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) HTTP/1\.[01]\r\n")
HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True)
class WireRequest:
    offset: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    complete: bool

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    return headers


def parse_requests(data: bytes) -> list[WireRequest]:
    """Every HTTP/1.x request in `data`, in order; a truncated last one has complete=False."""
    requests: list[WireRequest] = []
    position = 0
    while True:
        match = REQUEST_LINE.search(data, position)
        if match is None:
            return requests
        head_end = data.find(HEADER_END, match.start())
        if head_end == -1:
            requests.append(WireRequest(match.start(), match[1].decode(), match[2].decode(
                "latin-1"), {}, b"", False))
            return requests
        headers = _headers(data[match.start():head_end])
        body_start = head_end + len(HEADER_END)
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = 0
        body = data[body_start:body_start + length]
        requests.append(WireRequest(match.start(), match[1].decode(),
                                    match[2].decode("latin-1"), headers, body,
                                    len(body) == length))
        position = body_start + len(body)
