"""A gunicorn worker that slow, idle or half-open clients cannot starve (docs/cloud.md,
"Slow clients").

gunicorn's threaded worker hands a connection to a thread once a byte arrives; the thread then
blocks until the whole request (and, under TLS, the handshake) has trickled in, so as many slow
clients as threads stop the server. Here the worker's main loop, which already waits on every
socket with a selector, does all of a request's network reading itself, without blocking:

- the TLS handshake (non-blocking, stepped each time the socket is ready);
- the head, up to `MAX_HEAD_BYTES` (beyond it: 431, closed);
- the body, framed by Content-Length or chunked encoding, up to `MAX_BODY_BYTES` (beyond it:
  413, closed), decoding chunk sizes so a body that merely ends like a last chunk is not taken
  for a whole one;
- `Expect: 100-continue`, which it answers itself, so the client sends its body to the loop.

Only a complete request goes to a thread, which therefore never waits on a client. Every
connection has `REQUEST_READ_S` from the moment it is accepted (or from the first byte of its
next request on a kept-alive connection) to deliver a whole request, handshake included; then
it is closed. When more than `MAX_PENDING` connections are still incomplete, the oldest is
closed, so half-open connections cannot fill the worker's connection slots either.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import ssl
import time
import weakref
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.http.unreader import SocketUnreader
from gunicorn.sock import ssl_context
from gunicorn.workers.gthread import TConn, ThreadWorker

from cloud.upload_limits import MAX_UPLOAD_BODY_BYTES

# A whole request (TLS handshake, head and body) must arrive within this long.
REQUEST_READ_S = 10.0
# Forms are at most 64 KiB, intents 1 KiB.
MAX_BODY_BYTES = 512 * 1024
# The one exception: the parent's verification upload, where a phone photo (or two, for a face
# match) comes in (cloud.parent_web.uploads). A big upload also gets longer to arrive, at the
# pace of a slow mobile uplink, and only a few may be arriving at once, so memory stays under
# MAX_PENDING * MAX_BODY_BYTES + MAX_PENDING_UPLOADS * MAX_UPLOAD_BODY_BYTES.
UPLOAD_REQUEST_LINE = re.compile(rb"post /parent/children/\d+/verify[ ?]")
MIN_UPLOAD_BYTES_PER_S = 128 * 1024
MAX_PENDING_UPLOADS = 4
MAX_HEAD_BYTES = 32 * 1024
MAX_CHUNK_LINE = 1024
# Incomplete requests one worker holds at most; memory stays under MAX_PENDING * MAX_BODY_BYTES.
MAX_PENDING = 256
RECV_BYTES = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([^\r]*)")
_EXPECT_LINE = re.compile(rb"\r\nexpect:[^\r\n]*", re.IGNORECASE)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Scan(Enum):
    INCOMPLETE = "incomplete"
    COMPLETE = "complete"
    WANTS_CONTINUE = "wants-continue"  # head complete, asks for 100 Continue before its body
    HEAD_TOO_LARGE = "431 Request Header Fields Too Large"
    BODY_TOO_LARGE = "413 Content Too Large"
    MALFORMED = "400 Bad Request"


def body_limit(lowered_head: bytes) -> int:
    """The largest body this request may have: the upload form's, or everyone else's."""
    return MAX_UPLOAD_BODY_BYTES if UPLOAD_REQUEST_LINE.match(lowered_head) else MAX_BODY_BYTES


def _chunked_end(buffer: bytes | bytearray, start: int, limit: int) -> int | Scan:
    """Where a chunked body starting at `start` ends, or why that is not known yet."""
    pos, body = start, 0
    while True:
        line_end = buffer.find(b"\r\n", pos, pos + MAX_CHUNK_LINE + 2)
        if line_end < 0:
            return Scan.INCOMPLETE if len(buffer) - pos <= MAX_CHUNK_LINE else Scan.MALFORMED
        size_text = bytes(buffer[pos:line_end]).split(b";", 1)[0].strip()
        if not size_text or any(ch not in b"0123456789abcdefABCDEF" for ch in size_text):
            return Scan.MALFORMED
        size = int(size_text, 16)
        if size == 0:
            # Trailer fields (usually none) end with an empty line.
            end = buffer.find(b"\r\n\r\n", line_end)
            if end < 0:
                return Scan.INCOMPLETE if len(buffer) - line_end <= MAX_HEAD_BYTES \
                    else Scan.HEAD_TOO_LARGE
            return end + 4
        body += size
        if body > limit:
            return Scan.BODY_TOO_LARGE
        pos = line_end + 2 + size + 2
        if pos > len(buffer):
            return Scan.INCOMPLETE
        if buffer[pos - 2:pos] != b"\r\n":
            return Scan.MALFORMED


def scan_request(buffer: bytes | bytearray) -> Scan:
    """How far `buffer` holds an HTTP/1.x request: a thread gets it only once COMPLETE."""
    head_end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
    if head_end < 0:
        return Scan.INCOMPLETE if len(buffer) < MAX_HEAD_BYTES else Scan.HEAD_TOO_LARGE
    head = bytes(buffer[:head_end]).lower()
    body_start = head_end + 4
    limit = body_limit(head)
    if b"\r\ntransfer-encoding:" in head:
        end = _chunked_end(buffer, body_start, limit)
        if isinstance(end, Scan):
            if end is Scan.INCOMPLETE and len(buffer) == body_start and _wants_continue(head):
                return Scan.WANTS_CONTINUE
            return end
        return Scan.COMPLETE
    match = _CONTENT_LENGTH.search(head + b"\r\n")
    if match is None:
        return Scan.COMPLETE  # no body; gunicorn judges everything else about the request
    value = match.group(1).strip()
    if not value.isdigit():
        return Scan.MALFORMED
    declared = int(value)
    if declared > limit:
        return Scan.BODY_TOO_LARGE
    have = len(buffer) - body_start
    if have >= declared:
        return Scan.COMPLETE
    return Scan.WANTS_CONTINUE if have == 0 and _wants_continue(head) else Scan.INCOMPLETE


def _wants_continue(lowered_head: bytes) -> bool:
    return b"\r\nexpect:" in lowered_head and b"100-continue" in lowered_head


def without_expect(buffer: bytes | bytearray) -> bytes:
    """The request with its Expect field dropped: the loop already answered it."""
    head_end = buffer.find(b"\r\n\r\n")
    return _EXPECT_LINE.sub(b"", bytes(buffer[:head_end])) + bytes(buffer[head_end:])


class PrebufferedUnreader(SocketUnreader):  # type: ignore[misc]
    """gunicorn's socket reader, first serving the request the loop has already read.

    Handing that request over with `unread()` would put it all in the reader's buffer, which
    copies what is left on every read: a 30 MB upload read 64 KiB at a time took 11 s. Here
    the held bytes are handed out a bounded piece at a time, as a socket would give them."""

    def __init__(self, sock: Any, held: bytes) -> None:
        super().__init__(sock)
        self._held = memoryview(held)
        self._at = 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self._at < len(self._held):
            size = min(max(size_hint or self.mxchunk, self.mxchunk), self.max_body_chunk)
            piece = bytes(self._held[self._at:self._at + size])
            self._at += len(piece)
            return piece
        return super().chunk(size_hint)

    def take_buffered(self) -> bytes:
        rest = bytes(self._held[self._at:])
        self._at = len(self._held)
        return super().take_buffered() + rest


@dataclass
class _Pending:
    buffer: bytearray = field(default_factory=bytearray)
    handshaking: bool = False
    continued: bool = False
    # Set once the head shows an upload: its body may be large and take longer.
    upload: bool = False


def upload_deadline(started: float, declared_bytes: int) -> float:
    """When an upload of this size must have arrived: the usual time plus a slow uplink's."""
    return started + REQUEST_READ_S + declared_bytes / MIN_UPLOAD_BYTES_PER_S


def _declared_length(buffer: bytes | bytearray) -> int:
    """The Content-Length of a complete head (a chunked body counts as the largest allowed)."""
    head_end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
    head = bytes(buffer[:head_end]).lower() + b"\r\n"
    match = _CONTENT_LENGTH.search(head)
    if match is None or not match.group(1).strip().isdigit():
        return MAX_UPLOAD_BODY_BYTES
    return int(match.group(1).strip())


class BufferingThreadWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: weakref.WeakKeyDictionary[Any, _Pending] = weakref.WeakKeyDictionary()

    # -- connections in, requests out ---------------------------------------------------------
    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock.setblocking(False)
        if self.cfg.is_ssl:
            try:
                client_sock = ssl_context(self.cfg).wrap_socket(
                    client_sock, server_side=True, do_handshake_on_connect=False,
                    suppress_ragged_eofs=True)
            except (OSError, ValueError):
                self.nr_conns -= 1
                client_sock.close()
                return
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        # The parser is made when a whole request is in hand (see handle()).
        conn.initialized = True
        self._wait_for_request(conn, _Pending(handshaking=self.cfg.is_ssl))

    def _wait_for_request(self, conn: Any, pending: _Pending) -> None:
        if len(self.pending_conns) >= MAX_PENDING:
            self._drop(self.pending_conns[0])
        conn.sock.setblocking(False)
        # Appended in deadline order, so gunicorn's murder_pending() closes the overdue ones.
        conn.timeout = time.monotonic() + REQUEST_READ_S
        self._pending[conn] = pending
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self.on_pending_socket_readable, conn))

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection's next request is read the same way as a first one."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._wait_for_request(conn, _Pending())
        self.on_pending_socket_readable(conn, client)

    def finish_request(self, conn: Any, fs: Any) -> None:
        # Bytes a client pipelined behind its last request are read like a new request, not
        # handed to a thread as gunicorn would (they may be the start of a slow one).
        parser = conn.parser
        result = fs.result() if fs.done() and not fs.cancelled() and not fs.exception() \
            else False
        ahead = parser.unreader.take_buffered() if result and self.alive and \
            parser is not None else b""
        if ahead:
            self._wait_for_request(conn, _Pending(buffer=bytearray(ahead)))
            self._advance(conn)
            return
        super().finish_request(conn, fs)

    def _drop(self, conn: Any) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        with contextlib.suppress(ValueError):
            self.pending_conns.remove(conn)
        self._pending.pop(conn, None)
        self.nr_conns -= 1
        conn.close()

    def _refuse(self, conn: Any, status: str) -> None:
        reply = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: "
                 f"{len(status) + 1}\r\nConnection: close\r\n\r\n{status}\n").encode("ascii")
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.sock.send(reply)
        self._drop(conn)

    # -- reading without blocking -----------------------------------------------------------
    def on_pending_socket_readable(self, conn: Any, _client: Any) -> None:
        self._advance(conn)

    def _advance(self, conn: Any) -> None:
        pending = self._pending.get(conn)
        if pending is None:
            return
        if pending.handshaking and not self._step_handshake(conn, pending):
            return
        try:
            limit = MAX_UPLOAD_BODY_BYTES if pending.upload else MAX_BODY_BYTES
            while len(pending.buffer) <= MAX_HEAD_BYTES + limit:
                data = conn.sock.recv(RECV_BYTES)
                if not data:
                    self._drop(conn)  # the client went away before finishing its request
                    return
                pending.buffer += data
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                ssl.SSLWantWriteError):
            pass
        except (OSError, ssl.SSLError):
            self._drop(conn)
            return
        state = scan_request(pending.buffer)
        if not pending.upload and state in (Scan.INCOMPLETE, Scan.WANTS_CONTINUE) and \
                UPLOAD_REQUEST_LINE.match(bytes(pending.buffer[:64]).lower()) and \
                b"\r\n\r\n" in pending.buffer[:MAX_HEAD_BYTES]:
            if not self._admit_upload(conn, pending):
                return
            self._advance(conn)  # read on, now with the upload's room
            return
        if state is Scan.WANTS_CONTINUE:
            if not pending.continued:
                pending.continued = True
                try:
                    conn.sock.send(CONTINUE)
                except (OSError, ssl.SSLError):
                    self._drop(conn)
            return
        if state is Scan.INCOMPLETE:
            return  # stays on the poller until the rest arrives or its deadline passes
        if state is not Scan.COMPLETE:
            self._refuse(conn, state.value)
            return
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _admit_upload(self, conn: Any, pending: _Pending) -> bool:
        """Let a verification upload's body be large and slow, if few others are arriving."""
        uploading = sum(1 for other in self.pending_conns
                        if other is not conn and getattr(self._pending.get(other), "upload", 0))
        if uploading >= MAX_PENDING_UPLOADS:
            self._refuse(conn, "503 Service Unavailable")
            return False
        pending.upload = True
        started = conn.timeout - REQUEST_READ_S
        conn.timeout = upload_deadline(started, _declared_length(pending.buffer))
        # gunicorn's murder_pending() stops at the first connection not yet due, so the queue
        # stays in deadline order.
        self.pending_conns.remove(conn)
        later = next((i for i, other in enumerate(self.pending_conns)
                      if other.timeout > conn.timeout), len(self.pending_conns))
        self.pending_conns.insert(later, conn)
        return True

    def _step_handshake(self, conn: Any, pending: _Pending) -> bool:
        """One non-blocking step of the TLS handshake; True once it is done."""
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.poller.modify(conn.sock, selectors.EVENT_READ,
                               partial(self.on_pending_socket_readable, conn))
            return False
        except ssl.SSLWantWriteError:
            self.poller.modify(conn.sock, selectors.EVENT_WRITE,
                               partial(self.on_pending_socket_readable, conn))
            return False
        except (OSError, ssl.SSLError, ValueError):
            self._drop(conn)
            return False
        pending.handshaking = False
        self.poller.modify(conn.sock, selectors.EVENT_READ,
                           partial(self.on_pending_socket_readable, conn))
        return True

    # -- in a thread: the request is already whole ------------------------------------------
    def handle(self, conn: Any) -> Any:
        pending = self._pending.pop(conn, None)
        if pending is not None:
            conn.sock.setblocking(True)
            if conn.parser is None:
                conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            held = without_expect(pending.buffer)
            if conn.parser.unreader.buf.getvalue():
                conn.parser.unreader.unread(held)  # behind what it holds: never reached
            else:
                conn.parser.unreader = PrebufferedUnreader(conn.sock, held)
        return super().handle(conn)
