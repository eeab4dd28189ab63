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
from dataclasses import dataclass

import sqlite_utils

from cloud.pairing import redeem, redeem_in_transaction
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


@dataclass(frozen=True)
class PairingAttempt:
    """What became of one pairing request: refused by the throttle, a wrong code, or paired."""

    retry_after_s: float | None = None
    paired: tuple[str, str, int] | None = None


class PairingThrottle:
    def __init__(self, per_address: int, overall: int, key: str,
                 window_s: float = WINDOW_S, *, atomic: bool = True) -> None:
        """`atomic=False` is the old read-then-write counting, kept only as the negative
        control that shows what the atomic count prevents (tests/test_pairing_throttle_race)."""
        self.per_address = per_address
        self.overall = overall
        self.window_s = window_s
        self.atomic = atomic
        self._key = key.encode("utf-8")

    def _address_scope(self, client: str) -> str:
        digest = hmac.new(self._key, address_block(client).encode("utf-8"),
                          hashlib.sha256).hexdigest()
        return f"addr:{digest[:32]}"

    def _window(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    def attempt(self, db: sqlite_utils.Database, client: str, code: str,
                now: float) -> PairingAttempt:
        """Check the code if the client's allowance has room, and count it if it is wrong.

        One write transaction, and the allowance is taken by one conditional statement (an
        upsert that adds 1 only while the count is under the allowance, RETURNING the new
        count): simultaneous wrong codes from one address, on any number of app servers,
        get at most `allowance` codes checked per window. A correct code gives its unit back.
        """
        if not self.atomic:
            return self._attempt_read_then_write(db, client, code, now)
        window = self._window(now)
        scope = self._address_scope(client)
        with write_transaction(db):
            taken = db.execute(
                "INSERT INTO pairing_failures (scope, window_start, failures) VALUES (?, ?, 1) "
                "ON CONFLICT (scope, window_start) DO UPDATE "
                "SET failures = pairing_failures.failures + 1 "
                "WHERE pairing_failures.failures < ? RETURNING failures",
                [scope, window, self._allowance(db, window)]).fetchone()
            if taken is None:  # nothing was written
                return PairingAttempt(retry_after_s=max(1.0, window + self.window_s - now))
            paired = redeem_in_transaction(db, code, now)
            if paired is None:
                self._count(db, GLOBAL_SCOPE, window)
                return PairingAttempt()
            db.execute("UPDATE pairing_failures SET failures = failures - 1 "
                       "WHERE scope = ? AND window_start = ?", [scope, window])
            db.execute("DELETE FROM pairing_failures WHERE scope = ? AND window_start = ? "
                       "AND failures <= 0", [scope, window])
            return PairingAttempt(paired=paired)

    def _allowance(self, db: sqlite_utils.Database, window: float) -> int:
        row = db.execute("SELECT failures FROM pairing_failures WHERE scope = ? "
                         "AND window_start = ?", [GLOBAL_SCOPE, window]).fetchone()
        flooded = row is not None and row[0] >= self.overall
        return min(self.per_address, UNDER_FLOOD_ALLOWANCE) if flooded else self.per_address

    def _count(self, db: sqlite_utils.Database, scope: str, window: float) -> None:
        db.execute(
            "INSERT INTO pairing_failures (scope, window_start, failures) "
            "VALUES (?, ?, 1) ON CONFLICT (scope, window_start) "
            "DO UPDATE SET failures = pairing_failures.failures + 1", [scope, window])

    def _attempt_read_then_write(self, db: sqlite_utils.Database, client: str, code: str,
                                 now: float) -> PairingAttempt:
        """The check, the redemption and the count as three separate steps: two app servers
        can both read a count under the allowance before either adds to it."""
        wait = self.retry_after_s(db, client, now)
        if wait is not None:
            return PairingAttempt(retry_after_s=wait)
        paired = redeem(db, code, now)
        if paired is None:
            self.record_failure(db, client, now)
        return PairingAttempt(paired=paired)

    def retry_after_s(self, db: sqlite_utils.Database, client: str,
                      now: float) -> float | None:
        """Seconds until this client may try again, or None if it may try now (a read only).

        Never refuses an address for what other addresses did: at most it lowers the
        allowance every address has while the overall count is past its limit.
        """
        window = self._window(now)
        row = db.execute("SELECT failures FROM pairing_failures WHERE window_start = ? "
                         "AND scope = ?", [window, self._address_scope(client)]).fetchone()
        if row is not None and row[0] >= self._allowance(db, window):
            return max(1.0, window + self.window_s - now)
        return None

    def record_failure(self, db: sqlite_utils.Database, client: str, now: float) -> None:
        window = self._window(now)
        with write_transaction(db):
            for scope in (self._address_scope(client), GLOBAL_SCOPE):
                self._count(db, scope, window)
