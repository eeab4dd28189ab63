"""Shared helpers for the speech tests: fixture paths and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "audio_fixtures"
DEMO = FIXTURES / "demo"


def manifest_rows() -> list[dict]:
    lines = (FIXTURES / "manifest.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
