"""`teddy models download` against a real local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from speech_helpers import ROOT

from device.asr.models import CATALOGUE, DownloadError, download_model

SPEC = CATALOGUE["en-us"]


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support; can cut the first response short."""

    cut_after: int | None = None
    requests_seen: list[str | None] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        requested = self.headers.get("Range")
        type(self).requests_seen.append(requested)
        start = int(requested.split("=")[1].split("-")[0]) if requested else 0
        body = data[start:]
        self.send_response(206 if requested else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_after is not None and not requested:
            self.wfile.write(body[: type(self).cut_after])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    archive = served / SPEC.archive
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"{SPEC.name}/am/final.mdl", os.urandom(200_000))
        zipped.writestr(f"{SPEC.name}/README", "tiny test model")

    def handler(*args, **kwargs):
        return _RangeHandler(*args, directory=str(served), **kwargs)

    _RangeHandler.cut_after = None
    _RangeHandler.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", digest
    httpd.shutdown()


def test_download_verifies_and_unpacks(server, tmp_path) -> None:
    url, digest = server
    target = tmp_path / "models"
    path = download_model("en-us", url, digest, target, show_progress=False)
    assert path == target / SPEC.name
    assert (path / "README").read_text() == "tiny test model"
    assert not list(target.glob("*.part"))


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path) -> None:
    url, digest = server
    target = tmp_path / "models"
    _RangeHandler.cut_after = 150_000
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download_model("en-us", url, digest, target, show_progress=False)
    part = target / f"{SPEC.archive}.part"
    kept = part.stat().st_size
    assert 0 < kept <= 150_000
    _RangeHandler.cut_after = None
    download_model("en-us", url, digest, target, show_progress=False)
    assert _RangeHandler.requests_seen[-1] == f"bytes={kept}-"
    assert (target / SPEC.name / "am" / "final.mdl").stat().st_size == 200_000


def test_checksum_mismatch_is_refused_and_nothing_is_installed(server, tmp_path) -> None:
    url, _ = server
    target = tmp_path / "models"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_model("en-us", url, "0" * 64, target, show_progress=False)
    assert not (target / SPEC.name).exists()


def test_cli_download_and_auto_engine_prefers_the_downloaded_model(server, tmp_path) -> None:
    url, digest = server
    env = {**os.environ, "TEDDY_MODELS_DIR": str(tmp_path / "m"), "TEDDY_MODELS_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "models", "download", "en-us", "--sha256", digest,
         "--quiet", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"model", "path", "seconds"} and report["model"] == "en-us"
    assert report["path"] == str(tmp_path / "m" / SPEC.name)
    assert (tmp_path / "m" / SPEC.name / "README").exists()


def test_offline_gives_a_clear_error_and_exit_1(tmp_path) -> None:
    env = {**os.environ, "TEDDY_MODELS_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "models", "download", "en-us", "--quiet", "--json",
         "--url", "http://127.0.0.1:9"], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "cannot reach" in result.stderr and "offline" in result.stderr
