"""Pairing mistakes a new user makes, each met with one plain line that says what to do.

Every case runs `teddy device pair` as a user would, against real servers on loopback: the
cloud over http and over https, and a closed port. Input mistakes exit 2 and send nothing (the
pairing code is single use, so it must not be burnt); a cloud that is not there exits 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_helpers import TlsCloudProcess, fresh_pairing_code

from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess, free_port


def pair(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "device", "pair", "--state",
                           str(state), *args], capture_output=True, text=True, timeout=60)


def the_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The one line the user sees; nothing on stdout, no traceback, the expected status."""
    assert result.returncode == status, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("teddy device: ")
    return lines[0]


def code_is_unused(db_path: str, code: str) -> bool:
    db = open_db(db_path)
    try:
        return db.execute("SELECT 1 FROM pairing_codes WHERE code = ?", [code]).fetchone() \
            is not None
    finally:
        db.close()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("plain") / "cloud.db") as server:
        yield server


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCloudProcess]:
    folder = tmp_path_factory.mktemp("tls")
    with TlsCloudProcess(folder / "cloud.db", folder / "tls") as server:
        yield server


def nothing_happened(state: Path) -> bool:
    return not (state / "credentials.json").exists() and not (
        state / "egress-ledger.jsonl").exists()


def test_a_closed_port_says_nothing_is_listening_there(tmp_path: Path):
    port = free_port()
    line = the_line(pair(tmp_path / "toy", "--cloud", f"http://127.0.0.1:{port}", "--code",
                         "ABCD-EFGH"), 1)
    assert line == (f"teddy device: cannot reach the cloud at http://127.0.0.1:{port}: nothing "
                    f"is listening on 127.0.0.1:{port} (check the port, `teddy cloud serve` "
                    "prints the cloud's address, and that the cloud is running)")
    assert not (tmp_path / "toy" / "credentials.json").exists()


@pytest.mark.slow("the toy waits out its 3 s deadline: a plain http server never answers a "
                  "TLS hello")
def test_https_to_a_plain_http_cloud_says_use_http(plain: CloudProcess, tmp_path: Path):
    code = fresh_pairing_code(plain.db_path)
    wrong = plain.url.replace("http://", "https://")
    line = the_line(pair(tmp_path / "toy", "--cloud", wrong, "--code", code), 2)
    where = plain.url.removeprefix("http://")
    assert line == (f"teddy device: cannot pair with {wrong}: {where} serves plain http, not "
                    f"https: use --cloud {plain.url}")
    assert code_is_unused(plain.db_path, code)
    # The control: the URL the message gives pairs.
    assert pair(tmp_path / "toy", "--cloud", plain.url, "--code", code).returncode == 0


def test_http_to_an_https_cloud_says_use_https_with_the_ca(tls: TlsCloudProcess,
                                                          tmp_path: Path):
    code = fresh_pairing_code(tls.db_path)
    wrong = tls.url.replace("https://", "http://")
    where = tls.url.removeprefix("https://")
    line = the_line(pair(tmp_path / "toy", "--cloud", wrong, "--code", code), 2)
    assert line == (f"teddy device: cannot pair with {wrong}: {where} serves https, "
                    f"not plain http: use --cloud {tls.url} with --ca (the cloud's ca.pem)")
    assert code_is_unused(tls.db_path, code)
    result = pair(tmp_path / "toy", "--cloud", tls.url, "--code", code, "--ca",
                  str(tls.ca_file))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("page", ["/parent/children/1/pair", "/parent", "/healthz"])
def test_a_parent_page_url_names_the_cloud_address_to_use(plain: CloudProcess, tmp_path: Path,
                                                          page: str):
    line = the_line(pair(tmp_path / "toy", "--cloud", plain.url + page, "--code",
                         "ABCD-EFGH"), 2)
    assert line == (f"teddy device: '{plain.url}{page}' is a page of the cloud, not its "
                    f"address: pair with --cloud {plain.url} (the part before {page})")
    assert nothing_happened(tmp_path / "toy")


def test_a_trailing_slash_is_still_the_cloud_address(plain: CloudProcess, tmp_path: Path):
    result = pair(tmp_path / "toy", "--cloud", plain.url + "/", "--code",
                  fresh_pairing_code(plain.db_path))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("which", ["key", "text", "empty"])
def test_a_ca_that_is_not_a_certificate_says_so(tls: TlsCloudProcess, tmp_path: Path,
                                                which: str):
    bad = {"key": tls.ca_file.with_name("server-key.pem"), "text": tmp_path / "notes.txt",
           "empty": tmp_path / "empty.pem"}[which]
    if which == "text":
        bad.write_text("the cloud is on the laptop\n")
    elif which == "empty":
        bad.write_bytes(b"")
    code = fresh_pairing_code(tls.db_path)
    line = the_line(pair(tmp_path / "toy", "--cloud", tls.url, "--code", code, "--ca",
                         str(bad)), 2)
    assert line == (f"teddy device: {bad} is not a CA certificate (it holds no PEM "
                    "certificate): give the cloud's ca.pem, not its key or another file "
                    "(`teddy cloud serve --tls` prints where it is)")
    assert nothing_happened(tmp_path / "toy") and code_is_unused(tls.db_path, code)


@pytest.mark.parametrize(("code", "says"), [
    ("ABC", "it has 8 letters and digits, like K7QM-X3PA (get one on the parent page: "
            "Pair a toy)"),
    ("ABCD-EFGH-J", "it has 8 letters and digits"),
    ("ABCD-EF0H", "it never contains '0' (codes leave out 0, O, 1, I and L so they cannot "
                  "be misread); copy it again from the parent page"),
    ("abcd-efgl", "it never contains 'L'"),
])
def test_a_malformed_code_is_refused_before_anything_is_sent(plain: CloudProcess,
                                                             tmp_path: Path, code: str,
                                                             says: str):
    line = the_line(pair(tmp_path / "toy", "--cloud", plain.url, "--code", code), 2)
    assert line.startswith(f"teddy device: {code!r} is not a pairing code: {says}")
    assert nothing_happened(tmp_path / "toy")


def test_a_code_typed_in_lower_case_with_spaces_still_pairs(plain: CloudProcess,
                                                            tmp_path: Path):
    typed = fresh_pairing_code(plain.db_path).lower().replace("-", " . ")
    result = pair(tmp_path / "toy", "--cloud", plain.url, "--code", typed)
    assert result.returncode == 0, result.stderr


def test_a_server_that_is_not_a_teddy_cloud_is_named(tmp_path: Path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from loopback_server import ServedInThread

    class NotTeddy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"error": "no such page"}).encode())

        def log_message(self, *_args: object) -> None:
            pass

    with ServedInThread(ThreadingHTTPServer(("127.0.0.1", 0), NotTeddy)) as other:
        line = the_line(pair(tmp_path / "toy", "--cloud", other.url, "--code", "ABCD-EFGH"), 1)
    assert line == (f"teddy device: pairing refused: {other.url} answered 404 to the pairing "
                    "request, not as a Teddy cloud does: check the address (`teddy cloud "
                    "serve` prints it)")
    assert not (tmp_path / "toy" / "credentials.json").exists()


def test_pair_json_reports_the_new_pairing(plain: CloudProcess, tmp_path: Path):
    result = pair(tmp_path / "toy", "--cloud", plain.url, "--code",
                  fresh_pairing_code(plain.db_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["device_id"].startswith("toy-") and report["cloud_url"] == plain.url
    assert report["purposes"] == [] and report["notice"] is None
