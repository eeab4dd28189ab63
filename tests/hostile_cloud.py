"""A malicious "cloud" on loopback for toy tests: it reads each request whole, records it, and
then writes whatever raw bytes its `answer` function yields, pausing where told to."""

from __future__ import annotations

import socket
import socketserver
import time
from collections.abc import Callable, Iterable

from loopback_server import ServedInThread

# An answer is a series of byte strings; a float in it is a pause in seconds.
Answer = Callable[[bytes], Iterable[bytes | float]]


class HostileCloud(ServedInThread):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        cloud = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                request = _read_request(self.request)
                cloud.requests.append(request)
                try:
                    for piece in cloud.answer(request):
                        if isinstance(piece, float):
                            time.sleep(piece)
                        else:
                            self.request.sendall(piece)
                except OSError:
                    pass  # the toy gave up and closed: that is what some tests want

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        super().__init__(server)

def _read_request(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return head + b"\r\n\r\n" + body


def reply(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\nConnection: close\r\n{headers}\r\n").encode() + body
