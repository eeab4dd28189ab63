"""The wire check under TLS: the toy's relay terminates TLS with the testbed's CA, records the
plaintext and re-encrypts it to the cloud, so wire_fields_declared reads every field; the egress
observer still sees a toy that goes round the relay.

Real parts: TLS handshakes with certificates from cloud/tls.py, a TLS server on loopback, the
relay, strace, and whole stories with a real toy process and `teddy cloud serve --tls`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.tls import ensure_server_certificate
from scenarios import egress
from scenarios.checks.egress import body_field_problems, egress_only_to_cloud
from scenarios.context import ScenarioContext
from scenarios.processes import EGRESS_DIR, CloudServer
from scenarios.relay import Relay, TlsTermination
from scenarios.runner import CATALOGUE, load_scenarios, run_scenario
from teddy.contracts.intent_message import IntentMessage

REQUEST = (b"POST /api/v1/intent HTTP/1.1\r\nHost: teddy\r\nContent-Length: 11\r\n\r\n"
           b'{"a":"ava"}')


class TlsEcho:
    """A TLS server on loopback that answers each read with the same bytes."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            # Without NODELAY, TLS 1.3's session tickets wait on a delayed ACK (~40 ms).
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    while data := conn.recv(65536):
                        conn.sendall(data)
            except (OSError, ssl.SSLError):
                continue

    def close(self) -> None:
        # shutdown() wakes the blocked accept(); close() alone leaves it waiting.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=2)


@pytest.fixture
def cloud_tls(tmp_path: Path) -> Iterator[tuple[TlsEcho, Path]]:
    paths = ensure_server_certificate(tmp_path / "cloud-tls", host="127.0.0.1")
    server = TlsEcho(paths.server_cert, paths.server_key)
    yield server, paths.ca_cert
    server.close()


def _exchange(port: int, ca_file: Path, payload: bytes) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _over(context.wrap_socket(raw, server_hostname="127.0.0.1"), payload)


def _over(conn: ssl.SSLSocket, payload: bytes) -> bytes:
    with conn:
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(received)} bytes")
            received += chunk
        return received


def test_the_relay_terminates_tls_and_records_the_plaintext(
        tmp_path: Path, cloud_tls: tuple[TlsEcho, Path]) -> None:
    server, cloud_ca = cloud_tls
    termination = TlsTermination.issued(tmp_path / "testbed", "127.0.0.1", cloud_ca)
    with Relay("127.0.0.1", server.port, terminate=termination) as relay:
        assert _exchange(relay.port, termination.ca_file, REQUEST) == REQUEST
        assert relay.plaintext_upstream() == REQUEST
        assert relay.plaintext_downstream() == REQUEST
        wire = relay.captured_upstream()
        assert wire.startswith(b"\x16\x03") and b"ava" not in wire and b"POST" not in wire
        assert relay.url.startswith("https://")
        # A client pinned to the cloud's own CA refuses the relay: the relay's certificate
        # comes from the testbed's CA, which is why the toy pins that one.
        with pytest.raises(ssl.SSLCertVerificationError):
            _exchange(relay.port, cloud_ca, REQUEST)


def test_the_relay_refuses_a_cloud_its_ca_did_not_sign(
        tmp_path: Path, cloud_tls: tuple[TlsEcho, Path]) -> None:
    server, _cloud_ca = cloud_tls
    other_ca = ensure_server_certificate(tmp_path / "someone-else", "127.0.0.1").ca_cert
    termination = TlsTermination.issued(tmp_path / "testbed", "127.0.0.1", other_ca)
    with Relay("127.0.0.1", server.port, terminate=termination) as relay:
        # The toy's side of the handshake succeeds (it trusts the testbed's CA); the relay
        # then refuses to go on to a cloud it cannot verify and closes, forwarding nothing.
        with pytest.raises(OSError):
            _exchange(relay.port, termination.ca_file, REQUEST)
        assert any("certificate" in failure.lower() for failure in relay.tls_failures)


def test_each_body_field_is_held_to_the_intent_schema() -> None:
    clean = IntentMessage.new(device_id="toy-abcdef12", locale="en", intent="greet", slots={},
                              policy_version=1).model_dump(mode="json")
    assert body_field_problems(clean) == []
    long_id = clean | {"message_id": "6d79206d756d" + "0" * 188}
    assert any("'message_id' breaks its declared format" in p and "(200 bytes)" in p
               for p in body_field_problems(long_id))
    extra = clean | {"context": "my mum is called sarah"}
    assert any("undeclared body field 'context'" in p and "sarah" in p
               for p in body_field_problems(extra))


def test_a_toy_going_round_the_relay_to_the_cloud_is_flagged(
        tmp_path: Path, cloud_tls: tuple[TlsEcho, Path]) -> None:
    """The relay is the only declared route even under TLS: a real process under the
    observer that connects to the cloud's own port is shown as egress elsewhere."""
    if egress.unavailable():
        pytest.skip(egress.unavailable())
    server, cloud_ca = cloud_tls
    scenario = load_scenarios([CATALOGUE / "11_tls.yaml"])[0]
    ctx = ScenarioContext(scenario=scenario, workdir=tmp_path, cloud=CloudServer(tmp_path))
    termination = TlsTermination.issued(tmp_path / "testbed", "127.0.0.1", cloud_ca)
    family = ctx.family("a")
    with Relay("127.0.0.1", server.port, terminate=termination) as relay:
        family.relay = relay
        direct = (f"import socket,ssl; c=ssl.create_default_context(cafile={str(cloud_ca)!r});"
                  f"s=c.wrap_socket(socket.create_connection(('127.0.0.1',{server.port})),"
                  "server_hostname='127.0.0.1'); s.sendall(b'hidden'); s.recv(6)")
        trace = tmp_path / EGRESS_DIR / "toy-a.trace"
        subprocess.run(egress.observed([sys.executable, "-c", direct], trace), check=True,
                       timeout=30)
        observation = egress_only_to_cloud(ctx, {"who": "toy", "family": "a"})
    assert not observation.held
    assert f"127.0.0.1:{server.port}" in observation.evidence


@pytest.mark.slow("two whole TLS stories with a real toy and `teddy cloud serve --tls` (~25 s)")
def test_a_tls_toy_hiding_words_in_fields_is_caught_and_the_clean_one_passes() -> None:
    violator = load_scenarios([CATALOGUE / "89_violator_tls_hides_in_fields.yaml"])[0]
    result = run_scenario(violator)
    assert result.error is None, result.error
    checks = {c.check_id: c for c in result.checks}
    assert checks["wire-encrypted"].observed == "held"
    assert checks["talks-only-to-cloud"].observed == "held"
    caught = checks["fields-under-tls"]
    assert caught.observed == "violated"
    assert "undeclared header 'x-request-context'" in caught.evidence
    assert "'message_id' breaks its declared format" in caught.evidence
    # Read inside TLS, not a complaint about ciphertext (what an unterminated capture gives).
    assert "bytes after the last request" not in caught.evidence

    clean = run_scenario(load_scenarios([CATALOGUE / "11_tls.yaml"])[0])
    assert clean.error is None, clean.error
    checks = {c.check_id: c for c in clean.checks}
    assert checks["wire-fields-a"].observed == "held", checks["wire-fields-a"].evidence
    assert checks["wire-encrypted"].observed == "held"
    assert all(c.observed == "held" for c in clean.checks), [
        (c.check_id, c.evidence) for c in clean.checks if c.observed != "held"]


@pytest.mark.slow("a benchmark: 2 x 150 TLS exchanges, printing the relay's cost")
@pytest.mark.alone("prints the relay's timing figures")
def test_bench_the_cost_of_terminating_tls_at_the_relay(
        tmp_path: Path, cloud_tls: tuple[TlsEcho, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Figures, not a timed test: the median time of one exchange (a new TLS connection, one
    request of a toy's size, its answer) through the recording relay as before (TLS passes
    through) and through the terminating relay (two handshakes, the plaintext recorded)."""
    server, cloud_ca = cloud_tls
    termination = TlsTermination.issued(tmp_path / "testbed", "127.0.0.1", cloud_ca)
    payload = REQUEST + b"x" * 500
    rounds = 150

    def median_ms(port: int, ca_file: Path) -> float:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            assert _exchange(port, ca_file, payload) == payload
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    with Relay("127.0.0.1", server.port) as passing:
        relayed = median_ms(passing.port, cloud_ca)
    with Relay("127.0.0.1", server.port, terminate=termination) as terminating:
        terminated = median_ms(terminating.port, termination.ca_file)
        assert terminating.plaintext_upstream() == payload * rounds
    with capsys.disabled():
        print(f"\nTLS exchange, median of {rounds}: recording relay {relayed:.2f} ms, "
              f"terminating relay {terminated:.2f} ms "
              f"(x{terminated / relayed:.2f} of the recording relay)")
