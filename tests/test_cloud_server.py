"""The real `teddy cloud serve` process on loopback: a real toy pairs and talks, plain and TLS."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cloud_helpers import TlsCloudProcess, add_child, add_parent, grant

from cloud import pairing
from cloud.storage.db import open_db
from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import EgressGate
from device.state import ToyState
from teddy.cloud_process import CloudProcess
from teddy.contracts import signing
from teddy.contracts.intent_message import MAX_BODY_BYTES


def _family_with_code(db_path: Path, purposes: tuple[str, ...]) -> str:
    db = open_db(str(db_path))
    now = time.time()
    parent_id = add_parent(db, f"server-{uuid.uuid4().hex[:8]}@example.org", now)
    child_id = add_child(db, parent_id, now)
    grant(db, parent_id, child_id, purposes, now)
    code = pairing.issue_code(db, child_id, now)
    db.close()
    return code


@pytest.fixture(scope="module")
def plain_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    directory = tmp_path_factory.mktemp("cloud")
    with CloudProcess(directory / "cloud.db") as cloud:
        yield cloud


def _raw(cloud: CloudProcess, method: str, path: str, body: bytes | None,
         headers: dict[str, str], chunked: bool = False) -> tuple[int, dict[str, object]]:
    address = urlsplit(cloud.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    payload = iter([body[i:i + 256] for i in range(0, len(body), 256)]) if (
        chunked and body) else body
    conn.request(method, path, payload, headers, encode_chunked=chunked)
    response = conn.getresponse()
    status, data = response.status, response.read()
    conn.close()
    return status, json.loads(data) if data else {}


def test_a_toy_pairs_and_gets_personalised_replies_over_http(plain_cloud: CloudProcess,
                                                             tmp_path: Path) -> None:
    code = _family_with_code(Path(plain_cloud.db_path), ("core", "personalisation"))
    gate = EgressGate(ToyState(tmp_path / "toy"))
    device_id = gate.pair(plain_cloud.url, code)
    assert device_id.startswith("toy-")
    assert gate.policy.purposes == {"core", "personalisation"}
    for intent, slots in (("share_name", {"child_name": "mia"}),
                          ("tell_story", {"topic": "dragons"})):
        decision = gate.decide(intent, slots, "en")
        assert decision.message is not None, decision.reason
        delivery = gate.deliver(decision.message)
        assert delivery.status == 200
    assert delivery.personalised and delivery.reply and "Mia" in delivery.reply


def test_bad_input_over_the_wire_gets_clear_4xx(plain_cloud: CloudProcess,
                                               tmp_path: Path) -> None:
    code = _family_with_code(Path(plain_cloud.db_path), ("core",))
    paired = CloudTransport(plain_cloud.url).send(
        "POST", "/api/v1/pair", json.dumps({"code": code}).encode())
    assert paired.status == 201
    device, secret = str(paired.json["device_id"]), str(paired.json["secret"])
    oversized = b"{" + b" " * (4 * MAX_BODY_BYTES) + b"}"
    json_type = {"Content-Type": "application/json"}
    assert _raw(plain_cloud, "POST", "/api/v1/intent", oversized, json_type)[0] == 413
    status, body = _raw(plain_cloud, "POST", "/api/v1/intent", oversized, json_type,
                        chunked=True)
    assert (status, body.get("limit_bytes")) == (413, MAX_BODY_BYTES)
    riff = b"RIFF\x24\x08\x00\x00WAVEfmt "
    signed = {**json_type, **signing.sign_headers(device, secret, "POST", "/api/v1/intent",
                                                  riff)}
    assert _raw(plain_cloud, "POST", "/api/v1/intent", riff, signed)[0] == 422
    assert _raw(plain_cloud, "POST", "/api/v1/intent", riff, signed)[0] == 422
    assert _raw(plain_cloud, "POST", "/api/v1/intent", riff, json_type)[0] == 401
    assert _raw(plain_cloud, "GET", "/api/openapi.json", None, {})[0] == 200


def test_tls_works_with_the_pinned_ca_and_is_refused_without_it(tmp_path: Path) -> None:
    db_path = tmp_path / "cloud.db"
    code = _family_with_code(db_path, ("core",))
    with TlsCloudProcess(db_path, tmp_path / "tls") as cloud:
        ca_file = str(cloud.ca_file)
        with pytest.raises(CloudUnreachable):
            CloudTransport(cloud.url).send("GET", "/healthz")
        with pytest.raises(CloudUnreachable):  # a TLS port never serves plain HTTP
            CloudTransport(cloud.url.replace("https://", "http://")).send("GET", "/healthz")
        gate = EgressGate(ToyState(tmp_path / "toy"))
        gate.pair(cloud.url, code, ca_file=ca_file)
        decision = gate.decide("tell_joke", {}, "en")
        assert decision.message is not None
        assert gate.deliver(decision.message).status == 200
        credentials = Credentials(**ToyState(tmp_path / "toy").read_json("credentials.json")
                                  or {})
        assert credentials.ca_file == ca_file
