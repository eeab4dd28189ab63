"""`teddy models download en-moonshine`: verification and all-or-nothing install."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from device.asr.models import DownloadError
from device.asr.moonshine_download import (
    MOONSHINE_DIR,
    PINNED_FILES,
    install_from_wheel,
    moonshine_model_dir,
)

PREFIX = "moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/"


def _wheel(path: Path, contents: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in contents.items():
            wheel.writestr(f"{PREFIX}models/base-en/{name}", data)
        wheel.writestr(f"{PREFIX}LICENSE", "MIT License\n")
        wheel.writestr(f"{PREFIX}libmoonshine.so", b"not wanted")
    return path


@pytest.fixture
def small_model() -> dict[str, bytes]:
    return {name: f"model file {name}".encode() * 100 for name in PINNED_FILES}


def _pins(contents: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


def test_installs_only_the_verified_model_files(tmp_path, small_model):
    wheel = _wheel(tmp_path / "m.whl", small_model)
    installed = install_from_wheel(wheel, tmp_path / "models", _pins(small_model))
    assert installed == tmp_path / "models" / MOONSHINE_DIR
    assert sorted(p.name for p in installed.iterdir()) == sorted([*PINNED_FILES, "LICENSE"])
    assert moonshine_model_dir(tmp_path / "models") == installed


def test_a_wrong_checksum_installs_nothing(tmp_path, small_model):
    wheel = _wheel(tmp_path / "m.whl", small_model)
    pins = _pins(small_model) | {"encoder_model.ort": "0" * 64}
    with pytest.raises(DownloadError, match="checksum mismatch for encoder_model.ort"):
        install_from_wheel(wheel, tmp_path / "models", pins)
    assert list((tmp_path / "models").iterdir()) == []  # not even the staging folder


def test_the_real_pins_reject_a_tampered_wheel(tmp_path, small_model):
    with pytest.raises(DownloadError, match="checksum mismatch"):
        install_from_wheel(_wheel(tmp_path / "m.whl", small_model), tmp_path / "models")
    assert moonshine_model_dir(tmp_path / "models") is None


def test_an_interrupted_download_installs_nothing(tmp_path, small_model):
    whole = _wheel(tmp_path / "m.whl", small_model).read_bytes()
    cut = tmp_path / "cut.whl"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DownloadError, match="not a complete wheel"):
        install_from_wheel(cut, tmp_path / "models", _pins(small_model))
    assert list((tmp_path / "models").iterdir()) == []


def test_a_wheel_without_the_model_is_refused(tmp_path, small_model):
    wheel = _wheel(tmp_path / "m.whl", {"encoder_model.ort": b"x"})
    with pytest.raises(DownloadError, match="lacks the model files"):
        install_from_wheel(wheel, tmp_path / "models", _pins(small_model))


def test_cli_missing_wheel_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "teddy.cli", "models", "download", "en-moonshine",
         "--wheel", str(tmp_path / "absent.whl"), "--dir", str(tmp_path / "models")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"teddy models: wheel not found: {tmp_path / 'absent.whl'}"]
    assert not (tmp_path / "models" / MOONSHINE_DIR).exists()


def test_cli_refuses_url_and_sha256_for_moonshine(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "teddy.cli", "models", "download", "en-moonshine",
         "--sha256", "0" * 64, "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "pinned checksums" in result.stderr
