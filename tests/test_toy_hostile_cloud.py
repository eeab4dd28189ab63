"""A malicious cloud cannot steer, crash or stall the toy (issue 26, item 6).

A real socket server on loopback answers the toy's real requests with a redirect to a third
host, deeply nested JSON, an oversized reply, or a reply trickled a byte at a time. Negative
controls show each answer does what the test says to an ordinary client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hostile_cloud import HostileCloud, reply

from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import EgressGate, PairingError
from device.privacy.ledger import EgressLedger
from device.state import ToyState

DEEP = b"[" * 30_000 + b"]" * 30_000  # under the size limit, far over the parser's depth
CODE = "ABCD-EFGH"


@pytest.fixture
def third_host() -> Iterator[HostileCloud]:
    with HostileCloud(lambda _request: [reply("200 OK", b"{}")]) as host:
        yield host


def _redirecting(target: str) -> HostileCloud:
    return HostileCloud(lambda _request: [reply(
        "307 Temporary Redirect", headers=f"Location: {target}/steal\r\n")])


def test_a_redirect_is_an_error_and_nothing_goes_to_the_third_host(
        tmp_path: Path, third_host: HostileCloud) -> None:
    state = ToyState(tmp_path / "toy")
    with _redirecting(third_host.url) as cloud:
        gate = EgressGate(state)
        with pytest.raises(PairingError, match="redirect"):
            gate.pair(cloud.url, CODE)
    assert len(cloud.requests) == 1 and third_host.requests == []
    # The ledger says what happened: one request to the cloud, answered 307, and nothing else.
    entries = EgressLedger(state).read().entries
    assert [(e.path, e.status) for e in entries] == [("/api/v1/pair", 307)]


def test_negative_control_an_ordinary_client_follows_the_redirect(
        third_host: HostileCloud) -> None:
    with _redirecting(third_host.url) as cloud:
        requests.post(cloud.url + "/api/v1/pair", json={"code": CODE}, timeout=5)
    assert len(third_host.requests) == 1 and CODE.encode() in third_host.requests[0]


def test_deeply_nested_json_does_not_crash_pairing(tmp_path: Path) -> None:
    with pytest.raises(RecursionError):
        json.loads(DEEP)  # negative control: this is what the toy used to hand to its parser
    with HostileCloud(lambda _request: [reply("201 Created", DEEP)]) as cloud:
        gate = EgressGate(ToyState(tmp_path / "toy"))
        with pytest.raises(PairingError, match="no device key"):
            gate.pair(cloud.url, CODE)


def test_an_unsigned_reply_to_a_signed_request_is_not_even_parsed() -> None:
    credentials = Credentials("http://unused", "toy-1", "s" * 64)
    with HostileCloud(lambda _request: [reply("200 OK", DEEP)]) as cloud:
        answer = CloudTransport(cloud.url).send("GET", "/api/v1/policy", b"", credentials)
    assert (answer.status, answer.json, answer.authentic) == (200, {}, False)


def test_an_oversized_reply_is_refused_before_it_is_read() -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n" + b" " * 65536
    with HostileCloud(lambda _request: [huge, 5.0]) as cloud:
        started = time.monotonic()
        with pytest.raises(CloudUnreachable, match="too large"):
            CloudTransport(cloud.url).send("POST", "/api/v1/pair", b"{}")
    assert time.monotonic() - started < 1.0


def _trickle(head_too: bool) -> HostileCloud:
    def answer(_request: bytes) -> Iterator[bytes | float]:
        whole = reply("200 OK", b'{"reply": "' + b"a" * 40 + b'"}')
        split = 5 if head_too else whole.index(b"\r\n\r\n") + 4
        yield whole[:split]
        for byte in whole[split:]:
            yield 0.2
            yield bytes([byte])

    return HostileCloud(answer)


@pytest.mark.parametrize("head_too", [False, True], ids=["body", "head"])
def test_a_trickled_reply_ends_at_the_overall_deadline(head_too: bool) -> None:
    with _trickle(head_too) as cloud:
        started = time.monotonic()
        with pytest.raises(CloudUnreachable, match="did not answer within 1 s"):
            CloudTransport(cloud.url, timeout_s=1.0).send("POST", "/api/v1/pair", b"{}")
        assert time.monotonic() - started < 1.3


@pytest.mark.slow("waits for an ordinary client to read a trickled reply to its end")
def test_negative_control_per_read_timeouts_let_a_trickle_run_on() -> None:
    with _trickle(False) as cloud:
        started = time.monotonic()
        requests.post(cloud.url + "/api/v1/pair", data=b"{}", timeout=1.0)
        assert time.monotonic() - started > 5.0
