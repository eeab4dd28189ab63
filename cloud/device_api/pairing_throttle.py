"""Wrong pairing codes per client address, counted in each server process's memory.

A code is 8 characters from a 31-letter alphabet and lives 15 minutes, so guessing one is
already hopeless; the throttle keeps it that way against a flood. It lives in memory rather
than the database because a refused request must change nothing stored (R28); the price is
that each worker counts on its own, so the effective limit is the limit times the workers.
"""

from __future__ import annotations

from collections import OrderedDict, deque

WINDOW_S = 15 * 60
# Beyond this many addresses the longest-quiet one is forgotten, so memory stays bounded.
MAX_TRACKED_CLIENTS = 10_000


class PairingThrottle:
    def __init__(self, limit: int, window_s: float = WINDOW_S,
                 max_clients: int = MAX_TRACKED_CLIENTS) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def retry_after_s(self, client: str, now: float) -> float | None:
        """Seconds until this client may try again, or None if it is under the limit."""
        failures = self._recent(client, now)
        if len(failures) < self.limit:
            return None
        # The oldest failure that still counts must leave the window first.
        return failures[-self.limit] + self.window_s - now

    def record_failure(self, client: str, now: float) -> None:
        failures = self._recent(client, now)
        failures.append(now)
        self._failures[client] = failures
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
