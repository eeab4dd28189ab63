"""Wrong pairing codes counted in the database: per address and overall, per time window.

A code is 8 characters from a 31-letter alphabet and lives 15 minutes, so guessing one is
already hopeless; the throttle keeps it that way against a flood. The counts live in the
database so every worker, every address and every restart sees the same numbers: a guesser
gains nothing by landing on another worker or waiting for a restart. A row holds a keyed hash
of the address (or "global"), the start of a fixed window and a count, never anything about a
child; a refused request writes nothing at all. Fixed windows let a guesser spend at most twice
a limit across a window boundary.

Only the address that guessed is ever refused. The overall count never refuses anyone (it
once did, and then 200 wrong codes from 20 addresses locked every family out for 15 minutes);
when it passes its limit, the flood is slowed instead: every address's allowance of wrong codes
shrinks to `UNDER_FLOOD_ALLOWANCE`, so rotating addresses buys a guesser little, while a family
typing its correct code from its own address is answered as usual. IPv6 addresses count per
/64, the block one household or host is given, so a guesser cannot rotate within it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math

import sqlite_utils

from cloud.storage.db import write_transaction

WINDOW_S = 15 * 60
GLOBAL_SCOPE = "global"
# Wrong codes each address may send per window while the overall count is past its limit.
UNDER_FLOOD_ALLOWANCE = 2


def address_block(client: str) -> str:
    """What one guesser is counted as: the address, or its /64 for IPv6."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class PairingThrottle:
    def __init__(self, per_address: int, overall: int, key: str,
                 window_s: float = WINDOW_S) -> None:
        self.per_address = per_address
        self.overall = overall
        self.window_s = window_s
        self._key = key.encode("utf-8")

    def _address_scope(self, client: str) -> str:
        digest = hmac.new(self._key, address_block(client).encode("utf-8"),
                          hashlib.sha256).hexdigest()
        return f"addr:{digest[:32]}"

    def _window(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    def retry_after_s(self, db: sqlite_utils.Database, client: str,
                      now: float) -> float | None:
        """Seconds until this client may try again, or None if it may try now.

        Never refuses an address for what other addresses did: at most it lowers the
        allowance every address has while the overall count is past its limit.
        """
        window = self._window(now)
        counts = dict(db.execute(
            "SELECT scope, failures FROM pairing_failures WHERE window_start = ? "
            "AND scope IN (?, ?)", [window, self._address_scope(client), GLOBAL_SCOPE]))
        flooded = counts.get(GLOBAL_SCOPE, 0) >= self.overall
        allowance = min(self.per_address, UNDER_FLOOD_ALLOWANCE) if flooded else self.per_address
        if counts.get(self._address_scope(client), 0) >= allowance:
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
