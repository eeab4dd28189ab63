"""`teddy models download`: fetch, verify and unpack Vosk models.

Downloads go to a `.part` file and resume with an HTTP Range request after an
interruption; the archive is only unpacked once its SHA-256 matches the pin.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from device.config import toy_config

DEFAULT_URL_BASE = "https://alphacephei.com/vosk/models"
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class ModelSpec:
    name: str
    archive: str
    sha256: str
    locale: str


# The SHA-256 is the one pinned by a public third-party installer of this
# archive (the alphacephei catalogue publishes no checksums); it could not be
# re-verified from this network. Override with --sha256 if upstream changes.
CATALOGUE = {
    "en-us": ModelSpec(
        name="vosk-model-small-en-us-0.15",
        archive="vosk-model-small-en-us-0.15.zip",
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        locale="en",
    ),
}


class DownloadError(RuntimeError):
    """A model could not be downloaded, verified or unpacked."""


def models_dir() -> Path:
    """Where downloaded models live (TEDDY_MODELS_DIR overrides)."""
    override = toy_config().models_dir
    if override is not None:
        return override
    return Path.home() / ".local" / "share" / "teddy" / "models"


def installed_model_dir(locale: str) -> Path | None:
    """A previously downloaded model for `locale`, if any."""
    for spec in CATALOGUE.values():
        path = models_dir() / spec.name
        if spec.locale == locale and path.is_dir():
            return path
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, part: Path, show_progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=30)
    except requests.RequestException as error:
        raise DownloadError(f"cannot reach {url} (offline?): {error}") from error
    with response:
        if response.status_code == 416:
            return  # the .part file already holds the whole archive
        if response.status_code not in (200, 206):
            raise DownloadError(f"download of {url} failed: HTTP {response.status_code}")
        if response.status_code == 200 and have:
            have = 0  # server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        with part.open(mode) as handle, tqdm(
            total=total, initial=have, unit="B", unit_scale=True,
            desc=part.name.removesuffix(".part"), disable=not show_progress,
        ) as bar:
            try:
                for block in response.iter_content(CHUNK_BYTES):
                    handle.write(block)
                    bar.update(len(block))
            except requests.RequestException as error:
                raise DownloadError(
                    f"download interrupted ({error}); run the command again to resume"
                ) from error


def download_model(
    name: str,
    url_base: str | None = None,
    sha256: str | None = None,
    target_dir: Path | None = None,
    show_progress: bool = True,
) -> Path:
    """Download, verify and unpack model `name`; return its directory."""
    spec = CATALOGUE.get(name)
    if spec is None:
        raise DownloadError(f"unknown model {name!r}; available: {', '.join(CATALOGUE)}")
    base = (url_base or toy_config().models_url or DEFAULT_URL_BASE).rstrip("/")
    target = target_dir or models_dir()
    target.mkdir(parents=True, exist_ok=True)
    final_dir = target / spec.name
    if final_dir.is_dir():
        return final_dir
    part = target / f"{spec.archive}.part"
    _fetch(f"{base}/{spec.archive}", part, show_progress)
    expected = (sha256 or spec.sha256).lower()
    actual = sha256_file(part)
    if actual != expected:
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {spec.archive}: expected {expected}, got {actual}"
        )
    staging = target / f".{spec.name}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(part) as archive:
            for member in archive.namelist():
                resolved = (staging / member).resolve()
                if not resolved.is_relative_to(staging.resolve()):
                    raise DownloadError(f"unsafe path in archive: {member}")
            archive.extractall(staging)
    except zipfile.BadZipFile as error:
        raise DownloadError(f"{spec.archive} is not a valid zip: {error}") from error
    inner = staging / spec.name
    (inner if inner.is_dir() else staging).rename(final_dir)
    shutil.rmtree(staging, ignore_errors=True)
    part.unlink()
    return final_dir
