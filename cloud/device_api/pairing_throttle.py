"""Wrong pairing codes counted in the database: per address and overall, per time window.

A code is 8 characters from a 31-letter alphabet and lives 15 minutes, so guessing one is
already hopeless; the throttle keeps it that way against a flood. The counts live in the
database so every worker, every address and every restart sees the same numbers: a guesser
gains nothing by landing on another worker, rotating addresses (the overall limit) or waiting
for a restart. A row holds a keyed hash of the address (or "global"), the start of a fixed
window and a count, never anything about a child; a refused request writes nothing at all.
Fixed windows let a guesser spend at most twice a limit across a window boundary.
"""

from __future__ import annotations

import hashlib
import hmac
import math

import sqlite_utils

from cloud.storage.db import write_transaction

WINDOW_S = 15 * 60
GLOBAL_SCOPE = "global"


class PairingThrottle:
    def __init__(self, per_address: int, overall: int, key: str,
                 window_s: float = WINDOW_S) -> None:
        self.per_address = per_address
        self.overall = overall
        self.window_s = window_s
        self._key = key.encode("utf-8")

    def _address_scope(self, client: str) -> str:
        digest = hmac.new(self._key, client.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"addr:{digest[:32]}"

    def _window(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    def retry_after_s(self, db: sqlite_utils.Database, client: str,
                      now: float) -> float | None:
        """Seconds until this client may try again, or None if it may try now."""
        window = self._window(now)
        counts = dict(db.execute(
            "SELECT scope, failures FROM pairing_failures WHERE window_start = ? "
            "AND scope IN (?, ?)", [window, self._address_scope(client), GLOBAL_SCOPE]))
        if (counts.get(self._address_scope(client), 0) >= self.per_address
                or counts.get(GLOBAL_SCOPE, 0) >= self.overall):
            return max(1.0, window + self.window_s - now)
        return None

    def record_failure(self, db: sqlite_utils.Database, client: str, now: float) -> None:
        window = self._window(now)
        with write_transaction(db):
            for scope in (self._address_scope(client), GLOBAL_SCOPE):
                db.execute(
                    "INSERT INTO pairing_failures (scope, window_start, failures) "
                    "VALUES (?, ?, 1) ON CONFLICT (scope, window_start) "
                    "DO UPDATE SET failures = pairing_failures.failures + 1", [scope, window])
