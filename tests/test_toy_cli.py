"""`teddy device pair` and `teddy device ledger`: pairing a toy by hand and reading its ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import fresh_pairing_code

from teddy.cloud_process import CloudProcess, free_port


def teddy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


def test_a_new_toy_pairs_starts_at_deny_all_and_lists_what_it_sent(cloud, tmp_path: Path):
    state = tmp_path / "toy"
    unused = teddy("device", "ledger", "--state", str(state))
    assert unused.returncode == 2 and "no toy was ever paired there" in unused.stderr
    state.mkdir()
    assert teddy("device", "ledger", "--state", str(state)).stdout.strip() == \
        "This toy has sent nothing."
    result = teddy("device", "pair", "--cloud", cloud.url, "--code",
                   fresh_pairing_code(cloud.db_path), "--state", str(state))
    assert result.returncode == 0, result.stderr
    assert "nothing yet (the toy plays offline)" in result.stdout
    ledger = teddy("device", "ledger", "--state", str(state), "--json")
    entries = [json.loads(line) for line in ledger.stdout.splitlines()]
    assert [(e["path"], e["status"]) for e in entries] == [("/api/v1/pair", 201),
                                                           ("/api/v1/policy", 200)]
    table = teddy("device", "ledger", "--state", str(state)).stdout
    assert "2 requests" in table and "<pairing code>" in table


def test_a_wrong_pairing_code_is_refused_and_leaves_the_toy_unpaired(cloud, tmp_path: Path):
    state = tmp_path / "toy"
    result = teddy("device", "pair", "--cloud", cloud.url, "--code", "AAAA-AAAA",
                   "--state", str(state))
    assert result.returncode == 1
    assert "pairing refused: unknown or expired pairing code" in result.stderr
    assert not (state / "credentials.json").exists()


def test_an_unreachable_cloud_or_missing_ca_is_a_clear_error(tmp_path: Path):
    state = tmp_path / "toy"
    offline = teddy("device", "pair", "--cloud", f"http://127.0.0.1:{free_port()}", "--code",
                    "AAAA-AAAA", "--state", str(state))
    assert offline.returncode == 1 and "cannot reach the cloud" in offline.stderr
    no_ca = teddy("device", "pair", "--cloud", "https://127.0.0.1:1", "--code", "AAAA-AAAA",
                  "--ca", str(tmp_path / "missing.pem"), "--state", str(state))
    assert no_ca.returncode == 2 and "no CA certificate" in no_ca.stderr
    assert not (state / "credentials.json").exists()


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "localhost:8080"])
def test_a_cloud_url_without_http_says_how_to_write_it(tmp_path: Path, url: str):
    line = _one_line_error(teddy("device", "pair", "--cloud", url, "--code", "AAAA-AAAA",
                                 "--state", str(tmp_path / "toy")))
    assert "write it in full" in line and "http" in line
    assert "No connection adapters" not in line


def test_pairing_over_plain_http_to_another_machine_is_refused(tmp_path: Path):
    line = _one_line_error(teddy("device", "pair", "--cloud", "http://192.0.2.7:8080",
                                 "--code", "AAAA-AAAA", "--state", str(tmp_path / "toy")))
    assert "refusing to pair over plain http" in line and "--tls" in line


@pytest.mark.parametrize("given_ca", [False, True])
def test_tls_without_the_right_ca_names_the_ca_option(tmp_path: Path, given_ca: bool):
    import socket
    import ssl
    import threading

    from cloud.tls import ensure_server_certificate

    paths = ensure_server_certificate(tmp_path / "tls")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(paths.directory / "server.pem",
                               paths.directory / "server-key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    threading.Thread(target=serve_one, daemon=True).start()
    other_ca = ["--ca", str(ensure_server_certificate(tmp_path / "other").ca_cert)]
    try:
        line = _one_line_error(teddy("device", "pair", "--cloud", f"https://127.0.0.1:{port}",
                                     "--code", "AAAA-AAAA", "--state", str(tmp_path / "toy"),
                                     *(other_ca if given_ca else [])))
    finally:
        listener.close()
    assert "TLS certificate" in line and "SSLCertVerificationError" not in line
    assert ("not signed by the CA in" in line) if given_ca else ("--ca PATH" in line)


def test_a_mistyped_state_folder_is_not_an_empty_ledger(tmp_path: Path):
    line = _one_line_error(teddy("device", "ledger", "--state", str(tmp_path / "tyo")))
    assert "no toy state at" in line and "--state" in line


def test_pair_replaces_damaged_credentials_without_a_traceback(cloud, tmp_path: Path):
    state = tmp_path / "toy"
    state.mkdir()
    (state / "credentials.json").write_text('{"cloud_url": "http://127.0.0.1:1", "dev')
    (state / "policy.json").write_text('["core", "history"]')
    result = teddy("device", "pair", "--cloud", cloud.url, "--code",
                   fresh_pairing_code(cloud.db_path), "--state", str(state))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "credentials.json is damaged" in result.stderr
    assert json.loads((state / "credentials.json").read_text())["device_id"]


def test_the_ledger_command_survives_a_torn_last_line(cloud, tmp_path: Path):
    state = tmp_path / "toy"
    assert teddy("device", "pair", "--cloud", cloud.url, "--code",
                 fresh_pairing_code(cloud.db_path), "--state", str(state)).returncode == 0
    with (state / "egress-ledger.jsonl").open("a") as ledger:
        ledger.write('{"at": 1700000000, "method": "PO')
    table = teddy("device", "ledger", "--state", str(state))
    assert table.returncode == 0 and "Traceback" not in table.stderr
    assert "2 requests" in table.stdout
    assert "skipped unreadable ledger line" in table.stderr
