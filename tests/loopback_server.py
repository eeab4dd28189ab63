"""A socket server of a test's own on 127.0.0.1, served from a thread while in a `with`."""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType
from typing import Self


class ServedInThread:
    def __init__(self, server: socketserver.BaseServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"  # type: ignore[index]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
