"""An injectable clock, so scenarios can move the cloud's time forward by days."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path


class Clock:
    """Real time plus an offset in seconds read from a file (absent file: no offset)."""

    def __init__(self, offset_file: str | None = None) -> None:
        self.offset_file = Path(offset_file) if offset_file else None

    def offset_s(self) -> float:
        if self.offset_file is None or not self.offset_file.exists():
            return 0.0
        text = self.offset_file.read_text("utf-8").strip()
        return float(text) if text else 0.0

    def time(self) -> float:
        return time.time() + self.offset_s()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        if self.offset_file is None:
            raise RuntimeError("this clock has no offset file to move")
        self.offset_file.write_text(str(self.offset_s() + seconds), "utf-8")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
