"""A byte-recording TCP relay on the toy's only route to the cloud, like IoT Inspector.

Everything the toy writes is recorded verbatim before it is forwarded, so checks read what
really crossed the wire rather than what the toy claims it sent. It can also drop the
network on demand.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

CHUNK = 65536


class Relay:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((listen_host, 0))
        self.port: int = self._listener.getsockname()[1]
        self.host = listen_host
        self._upstream = bytearray()
        self._downstream = bytearray()
        self._lock = threading.Lock()
        self._online = True
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Relay:
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        # shutdown() wakes the blocked accept(); close() alone leaves it waiting.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._drop_all()
        self._accept_thread.join(timeout=2)

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- observation and control ---------------------------------------------------------
    def captured_upstream(self) -> bytes:
        """Every byte the toy wrote towards the cloud, in order."""
        with self._lock:
            return bytes(self._upstream)

    def captured_downstream(self) -> bytes:
        with self._lock:
            return bytes(self._downstream)

    def reset_capture(self) -> None:
        with self._lock:
            self._upstream.clear()
            self._downstream.clear()

    def set_online(self, online: bool) -> None:
        """Offline: new connections are cut at once and open ones are dropped."""
        self._online = online
        if not online:
            self._drop_all()

    # -- internals -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._online:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self.connections += 1
            with self._lock:
                self._open.update({client, server})
            for source, sink, record in ((client, server, self._upstream),
                                         (server, client, self._downstream)):
                threading.Thread(target=self._pump, args=(source, sink, record),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                with self._lock:
                    record.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._open.discard(sock)

    def _drop_all(self) -> None:
        with self._lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
