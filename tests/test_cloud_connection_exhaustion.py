"""Half-open connections cannot stop the cloud (issue 26, item 1).

Real gunicorn servers on loopback and real sockets that stall in every state a request can stall
in: chunked bodies that never end (one that merely ends like a last chunk), `Expect:
100-continue` heads whose bodies never come, and under TLS half a handshake or half an HTTP head.
Meanwhile an ordinary client must be answered as usual. The negative control is gunicorn's
own threaded worker, which the same connections starve.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cloud_helpers import TlsCloudProcess

from cloud.bench.servers import BenchServer
from cloud.bench.slow_clients import probe
from cloud.server_worker import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    REQUEST_READ_S,
    Scan,
    scan_request,
    without_expect,
)
from cloud.tls import ensure_server_certificate

# Stalls in the chunked body: the last line only looks like the final chunk (it is the start of
# a 10-byte chunk), which fooled the previous worker.
CHUNKED = (b"POST /api/v1/intent HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Type: application/json\r\n\r\na\r\n0\r\n\r\n")
EXPECTING = (b"POST /api/v1/intent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
             b"Content-Type: application/json\r\nExpect: 100-continue\r\n\r\n")
HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait: "


@contextlib.contextmanager
def _stalled(port: int, payloads: list[bytes]) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for payload in payloads:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(payload)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _half_client_hello() -> bytes:
    """The first half of a real TLS ClientHello."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    return hello[:len(hello) // 2]


def _bench_server(tmp_path: Path, worker_class: str | None,
                  tls_files: tuple[str, str] | None = None) -> BenchServer:
    name = (worker_class or "cloud") + ("-tls" if tls_files else "")
    return BenchServer("cloud", tmp_path / f"{name}.db", 2, tmp_path / f"{name}.log",
                       worker_class=worker_class, tls_files=tls_files)


def _starved_payloads() -> list[bytes]:
    return [CHUNKED] * 12 + [EXPECTING] * 12


@pytest.mark.alone("bounds ordinary requests' latency at 1 s while stalled requests are held")
def test_stalled_chunked_and_100_continue_requests_do_not_starve_anyone(
        tmp_path: Path) -> None:
    with _bench_server(tmp_path, None) as server:
        server.spawn().wait_ready(timeout_s=30)
        with _stalled(server.port, _starved_payloads()) as socks:
            result = probe(server.port, 1.5)
            assert result.failed == 0 and max(result.answered_ms) < 1000, result.describe()
            # Each 100-continue client was told to send its body (by the worker's own loop).
            for sock in socks[12:]:
                assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")


@pytest.mark.slow("runs gunicorn's threaded worker until its probes time out")
def test_negative_control_gunicorns_threaded_worker_is_starved(tmp_path: Path) -> None:
    with _bench_server(tmp_path, "gthread") as server:
        server.spawn().wait_ready(timeout_s=30)
        with _stalled(server.port, _starved_payloads()):
            time.sleep(0.5)
            result = probe(server.port, 1.0)
    assert result.failed >= 1, result.describe()


def _tls_attack(port: int) -> tuple[list[socket.socket], int]:
    """Four half ClientHellos, then four half HTTP heads over TLS; and the failed handshakes."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    socks: list[socket.socket] = []
    for _ in range(4):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        raw.sendall(_half_client_hello())
        socks.append(raw)
    failed = 0
    for _ in range(4):
        raw = socket.create_connection(("127.0.0.1", port), timeout=2)
        socks.append(raw)
        try:
            tls = context.wrap_socket(raw)
        except OSError:
            failed += 1  # the server is already starved
            continue
        tls.sendall(HALF_HEAD)
        socks.append(tls)
    return socks, failed


def _https_probe(url: str, ca_file: str, seconds: float) -> list[float | None]:
    """Latency in ms of fresh HTTPS requests for `seconds`, None for one that failed."""
    latencies: list[float | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            ok = requests.get(url + "/healthz", verify=ca_file, timeout=4).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append((time.perf_counter() - started) * 1000 if ok else None)
    return latencies


@pytest.mark.slow("starts `teddy cloud serve --tls` and holds half-open TLS connections")
def test_half_tls_handshakes_and_heads_do_not_stop_the_tls_server(tmp_path: Path) -> None:
    with TlsCloudProcess(tmp_path / "cloud.db", tmp_path / "tls") as cloud:  # started
        socks, failed = _tls_attack(cloud.port)
        try:
            latencies = _https_probe(cloud.url, str(cloud.ca_file), 2.0)
        finally:
            for sock in socks:
                sock.close()
    assert failed == 0 and latencies and None not in latencies, latencies
    assert max(v for v in latencies if v is not None) < 1000, latencies


@pytest.mark.slow("runs gunicorn's threaded worker under TLS until its probes time out")
def test_negative_control_half_tls_connections_stop_gunicorns_threaded_worker(
        tmp_path: Path) -> None:
    paths = ensure_server_certificate(tmp_path / "tls")
    files = (str(paths.server_cert), str(paths.server_key))
    with _bench_server(tmp_path, "gthread", files) as server:
        server.spawn().wait_ready(timeout_s=30)
        socks, failed = _tls_attack(server.port)
        try:
            time.sleep(0.5)
            latencies = _https_probe(f"https://127.0.0.1:{server.port}", str(paths.ca_cert),
                                     1.0)
        finally:
            for sock in socks:
                sock.close()
    assert failed or None in latencies, latencies


@pytest.mark.slow("waits for the server's per-connection deadline to pass")
def test_every_stalled_state_is_closed_at_the_deadline(tmp_path: Path) -> None:
    paths = ensure_server_certificate(tmp_path / "tls")
    with _bench_server(tmp_path, None) as plain, _bench_server(
            tmp_path, None, (str(paths.server_cert), str(paths.server_key))) as tls:
        plain.spawn()
        tls.spawn()
        plain.wait_ready(timeout_s=30)
        tls.wait_ready(timeout_s=30)
        with _stalled(plain.port, [CHUNKED, EXPECTING, HALF_HEAD, b""]) as socks, \
                _stalled(tls.port, [_half_client_hello(), b""]) as tls_socks:
            started = time.monotonic()
            for sock in [*socks, *tls_socks]:
                sock.settimeout(REQUEST_READ_S + 5)
                while sock.recv(4096):
                    pass  # a 100 Continue first, then the close
            assert time.monotonic() - started < REQUEST_READ_S + 3


def test_oversized_requests_are_refused_by_the_loop_without_a_thread(tmp_path: Path) -> None:
    with _bench_server(tmp_path, None) as server:
        server.spawn().wait_ready(timeout_s=30)
        huge = (b"POST /api/v1/intent HTTP/1.1\r\nHost: x\r\nContent-Length: "
                + str(MAX_BODY_BYTES + 1).encode() + b"\r\n\r\n")
        with _stalled(server.port, [huge, b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES]) \
                as (body_sock, head_sock):
            assert body_sock.recv(100).startswith(b"HTTP/1.1 413 ")
            assert head_sock.recv(100).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(("data", "state"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n", Scan.INCOMPLETE),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Scan.COMPLETE),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", Scan.INCOMPLETE),
    (b"POST / HTTP/1.1\r\ncontent-length:5\r\n\r\nabcde", Scan.COMPLETE),
    (b"POST / HTTP/1.1\r\nContent-Length: x5\r\n\r\nabcde", Scan.MALFORMED),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", Scan.INCOMPLETE),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     Scan.COMPLETE),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
     Scan.COMPLETE),
    (CHUNKED, Scan.INCOMPLETE),  # ends like a last chunk, but is inside a 10-byte one
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Scan.MALFORMED),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", Scan.MALFORMED),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n80001\r\n", Scan.BODY_TOO_LARGE),
    (EXPECTING, Scan.WANTS_CONTINUE),
    (EXPECTING + b"a" * 10, Scan.INCOMPLETE),
    (EXPECTING + b"a" * 100, Scan.COMPLETE),
    (b"X" * (MAX_HEAD_BYTES + 1), Scan.HEAD_TOO_LARGE),
])
def test_a_request_is_handed_to_a_thread_only_once_complete(data: bytes, state: Scan) -> None:
    assert scan_request(data) is state


def test_the_expect_field_is_dropped_once_the_loop_has_answered_it() -> None:
    request = without_expect(EXPECTING + b"a" * 100)
    assert b"expect" not in request.lower() and request.endswith(b"\r\n\r\n" + b"a" * 100)
