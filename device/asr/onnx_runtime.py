"""ONNX Runtime, loaded with its telemetry switched off before the library starts.

onnxruntime 1.32 on Linux makes a persistent device identifier and a telemetry database under
~/.cache/Microsoft/DeveloperTools as soon as it is imported, unless ORT_DISABLE_TELEMETRY is set
first. A toy that promises to keep nothing about the child must not leave a stable identifier or
usage records behind, so every import of onnxruntime in the project goes through here.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

TELEMETRY_SWITCH = "ORT_DISABLE_TELEMETRY"


def onnxruntime_installed() -> bool:
    """Whether onnxruntime can be imported, found without importing (and so starting) it."""
    return importlib.util.find_spec("onnxruntime") is not None


def load_onnxruntime() -> ModuleType:
    """The onnxruntime module, telemetry off; ImportError if it is not installed."""
    # Forced, not a default: a value inherited from the environment must not turn it back on.
    os.environ[TELEMETRY_SWITCH] = "1"
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime
