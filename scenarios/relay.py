"""A byte-recording TCP relay on the toy's only route to the cloud, like IoT Inspector.

Everything the toy writes is recorded verbatim before it is forwarded, so checks read what
really crossed the wire rather than what the toy claims it sent. It can also drop the
network on demand.

Under TLS the bytes on the wire say nothing field by field, so the relay can also terminate
TLS, the way mitmproxy does on a test network: the toy pins the testbed's CA, which issued the
relay a certificate for the cloud's name; the relay records the toy's plaintext and sends it
on to the cloud over a second TLS connection, pinned to the cloud's own CA. It still records
the encrypted bytes as they crossed the wire, for the checks that the wire is encrypted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

CHUNK = 65536
STOP_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class TlsTermination:
    """What the relay needs to stand in for the cloud under TLS."""

    ca_file: Path  # the testbed's CA: the toy pins this one
    cert_file: Path  # the relay's certificate for the cloud's name, issued by that CA
    key_file: Path
    upstream_ca_file: Path  # the cloud's own CA: the relay pins this one
    upstream_name: str  # the name the cloud's certificate must carry

    @classmethod
    def issued(cls, directory: Path, cloud_host: str, cloud_ca_file: Path) -> TlsTermination:
        """A testbed CA in `directory` (made once) and a relay certificate naming `cloud_host`."""
        from cloud.tls import ensure_server_certificate

        paths = ensure_server_certificate(directory, host=cloud_host)
        return cls(paths.ca_cert, paths.server_cert, paths.server_key, cloud_ca_file,
                   cloud_host)


class _Terminator:
    """TLS in from the relay, plaintext recorded, TLS out to the cloud; one event loop thread.

    asyncio's TLS runs each connection's reads and writes on one thread, which OpenSSL needs
    (an SSL object must not be read and written from two threads at once).
    """

    def __init__(self, target: tuple[str, int], termination: TlsTermination,
                 lock: threading.Lock) -> None:
        self.target = target
        self.termination = termination
        self.upstream = bytearray()
        self.downstream = bytearray()
        self.failures: list[str] = []
        self._lock = lock
        self._writers: set[asyncio.StreamWriter] = set()
        self._inward, self._outward = self._contexts()
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._note_failure)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        inward = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        inward.load_cert_chain(self.termination.cert_file, self.termination.key_file)
        outward = ssl.create_default_context(cafile=str(self.termination.upstream_ca_file))
        return inward, outward

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._inward)

    def _note_failure(self, _loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # A toy that does not trust the testbed's CA fails its handshake here; the toy reports
        # that itself, so it is kept for the record rather than printed.
        with self._lock:
            self.failures.append(str(context.get("exception") or context.get("message")))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(
                *self.target, ssl=self._outward, server_hostname=self.termination.upstream_name)
        except (OSError, ssl.SSLError) as exc:
            self._note_failure(self._loop, {"exception": exc})
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pump(reader, up_writer, self.upstream),
                             self._pump(up_reader, writer, self.downstream))
        self._writers.difference_update({writer, up_writer})

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    record: bytearray) -> None:
        try:
            while data := await source.read(CHUNK):
                with self._lock:
                    record.extend(data)
                sink.write(data)
                await sink.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(
                STOP_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()


class Relay:
    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1",
                 *, terminate: TlsTermination | None = None) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((listen_host, 0))
        self.port: int = self._listener.getsockname()[1]
        self.host = listen_host
        self._upstream = bytearray()
        self._downstream = bytearray()
        self._lock = threading.Lock()
        self.termination = terminate
        # Terminating: the toy's (encrypted) bytes are recorded here, then go through the
        # terminator, which records them decrypted and re-encrypts them for the cloud.
        self._terminator = (_Terminator(self.target, terminate, self._lock)
                            if terminate is not None else None)
        if self._terminator is not None:
            self.target = ("127.0.0.1", self._terminator.port)
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
        if self._terminator is not None:
            self._terminator.stop()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.termination is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    # -- observation and control ---------------------------------------------------------
    def captured_upstream(self) -> bytes:
        """Every byte the toy wrote towards the cloud, in order, as it crossed the wire."""
        with self._lock:
            return bytes(self._upstream)

    def captured_downstream(self) -> bytes:
        with self._lock:
            return bytes(self._downstream)

    def plaintext_upstream(self) -> bytes:
        """What the toy sent, decrypted when the relay terminates TLS (else as on the wire)."""
        if self._terminator is None:
            return self.captured_upstream()
        with self._lock:
            return bytes(self._terminator.upstream)

    def plaintext_downstream(self) -> bytes:
        if self._terminator is None:
            return self.captured_downstream()
        with self._lock:
            return bytes(self._terminator.downstream)

    @property
    def tls_failures(self) -> list[str]:
        """Handshakes or upstream connections the terminator could not make."""
        if self._terminator is None:
            return []
        with self._lock:
            return list(self._terminator.failures)

    def reset_capture(self) -> None:
        with self._lock:
            self._upstream.clear()
            self._downstream.clear()
            if self._terminator is not None:
                self._terminator.upstream.clear()
                self._terminator.downstream.clear()

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
            # Bytes go on as they come: Nagle would hold a small write (a TLS flight, a short
            # request) for the peer's delayed ACK, ~40 ms a time, a delay the toy never has.
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
