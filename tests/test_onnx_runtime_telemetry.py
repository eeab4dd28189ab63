"""The toy's ONNX Runtime leaves no device identifier or telemetry database behind.

onnxruntime writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}
when imported plainly; the negative control shows that, so the check can see what it guards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")


def _files_left_by(code: str, home: Path) -> list[str]:
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("ORT_DISABLE_TELEMETRY", None)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


def test_the_toy_loads_onnxruntime_without_telemetry(tmp_path: Path) -> None:
    code = ("from device.asr.onnx_runtime import load_onnxruntime\n"
            "ort = load_onnxruntime()\n"
            "ort.SessionOptions()\n")
    assert _files_left_by(code, tmp_path) == []


def test_negative_control_a_plain_import_leaves_an_identifier(tmp_path: Path) -> None:
    left = _files_left_by("import onnxruntime", tmp_path)
    if not left:
        # Whether onnxruntime starts its telemetry depends on the machine (its SDK looks at
        # certificates, containers and cloud metadata first); where it does not, there is
        # nothing to show, and the control below still shows the watch sees a file.
        pytest.skip("a plain import of onnxruntime made no telemetry files on this machine")
    assert any("onnxruntime" in name for name in left), left


def test_negative_control_the_watch_sees_a_file_left_in_the_cache(tmp_path: Path) -> None:
    code = ("import os, pathlib\n"
            "folder = pathlib.Path(os.environ['XDG_CACHE_HOME'], 'Microsoft', '.onnxruntime')\n"
            "folder.mkdir(parents=True)\n"
            "(folder / 'deviceid').write_text('1234')\n")
    assert _files_left_by(code, tmp_path) == [".cache/Microsoft/.onnxruntime/deviceid"]


def test_an_inherited_setting_cannot_turn_telemetry_back_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    code = "from device.asr.onnx_runtime import load_onnxruntime\nload_onnxruntime()\n"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / ".cache")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    assert not any(tmp_path.rglob("*onnxruntime*"))
