"""A gunicorn worker that slow or idle clients cannot starve (docs/cloud.md, "Slow clients").

gunicorn's sync worker reads a request inside the worker with no time limit, so two idle
connections (one per worker) stop the cloud answering anyone. Its threaded worker hands a
connection to a thread as soon as a byte arrives, and the thread then blocks until the whole
request has trickled in, so as many slow clients as threads do the same.

This worker is gunicorn's threaded worker with one change: the main loop, which already waits
on every socket with a selector, also reads each request's bytes as they arrive, without
blocking, and hands the connection to a thread only once the request (head and declared body)
is complete. A thread therefore never waits on a client. A connection that has not delivered a
whole request within `REQUEST_READ_S` of its first chance is closed by gunicorn's own expiry of
pending connections, so a slow client costs one socket and its bytes, for a bounded time.

Under TLS the bytes cannot be read before the handshake, so this worker behaves exactly like
gunicorn's threaded worker there; see the docs for the buffering front to use in that case.
"""

from __future__ import annotations

import errno
import re
import selectors
import time
import weakref
from functools import partial
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# A whole request (head and body) must arrive within this long.
REQUEST_READ_S = 10.0
# Requests are small (an intent is at most 1 KiB, a parent form 64 KiB); anything larger is
# handed to gunicorn and Flask as it stands, which refuse it with their own limits.
MAX_BUFFERED_BYTES = 128 * 1024
RECV_BYTES = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")


def request_complete(buffer: bytes | bytearray) -> bool:
    """Whether `buffer` holds a full HTTP/1.x request head and the body it declares."""
    if len(buffer) > MAX_BUFFERED_BYTES:
        return True
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = bytes(buffer[:head_end]).lower()
    body = len(buffer) - head_end - 4
    if b"\r\ntransfer-encoding:" in head:
        return buffer.endswith(b"0\r\n\r\n")
    match = _CONTENT_LENGTH.search(head)
    return body >= (int(match.group(1)) if match else 0)


class BufferingThreadWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffers: weakref.WeakKeyDictionary[Any, bytearray] = weakref.WeakKeyDictionary()

    def _wait_for_request(self, conn: Any) -> None:
        conn.sock.setblocking(False)
        # Appended in deadline order: every pending connection gets the same allowance.
        conn.timeout = time.monotonic() + REQUEST_READ_S
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self.on_pending_socket_readable, conn))

    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:
            super().accept(listener)
            return
        from gunicorn.workers.gthread import TConn

        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._wait_for_request(TConn(self.cfg, client_sock, client_addr,
                                     listener.getsockname()))

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection's next request is read the same way as a first one."""
        if self.cfg.is_ssl:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._wait_for_request(conn)
        self.on_pending_socket_readable(conn, client)

    def _drop(self, conn: Any) -> None:
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)
        self._buffers.pop(conn, None)
        self.nr_conns -= 1
        conn.close()

    def on_pending_socket_readable(self, conn: Any, client: Any) -> None:
        if self.cfg.is_ssl:
            super().on_pending_socket_readable(conn, client)
            return
        buffer = self._buffers.setdefault(conn, bytearray())
        try:
            while True:
                data = conn.sock.recv(RECV_BYTES)
                if not data:
                    self._drop(conn)  # the client went away before finishing its request
                    return
                buffer += data
                if len(data) < RECV_BYTES or len(buffer) > MAX_BUFFERED_BYTES:
                    break
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(conn)
            return
        if not request_complete(buffer):
            return  # stays on the poller until the rest arrives or its deadline passes
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        buffered = self._buffers.pop(conn, None)
        if buffered is not None:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(buffered))
        return super().handle(conn)
