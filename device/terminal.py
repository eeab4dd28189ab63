"""The live toy's status line and notices on a terminal.

On a terminal the status line ("○ listening") is redrawn in place; a notice ("not paired",
"history kept") is a whole line of its own that later status updates never overwrite, and
the last status line ends with a newline when the toy stops. Piped, every update is a line.
"""

from __future__ import annotations

import sys
from typing import TextIO


class StatusLine:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._pending = False  # a status is drawn and the cursor sits at its end

    def status(self, text: str) -> None:
        if self.live:
            print(f"\r\033[K{text}", end="", file=self.stream, flush=True)
            self._pending = True
        else:
            print(text, file=self.stream, flush=True)

    def notice(self, text: str) -> None:
        """A message that stays on screen."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        """Erase the status so other output starts on a clean line."""
        if self._pending:
            print("\r\033[K", end="", file=self.stream, flush=True)
            self._pending = False

    def finish(self) -> None:
        """End with a newline so the shell prompt does not land on the status."""
        if self._pending:
            print(file=self.stream, flush=True)
            self._pending = False
