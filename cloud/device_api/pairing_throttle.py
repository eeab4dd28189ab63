"""Wrong pairing codes counted in the database: per pending code, per address and overall.

Never refuse a valid code; bound every guesser. The threat arithmetic (issue 26, item 5):

- A code is 8 characters from a 31-letter alphabet (31**8 = 8.5 x 10**11) and lives 15
  minutes. Its first 3 characters are a locator (31**3 = 29,791), unique among live codes, so a
  typed code names at most one pending pairing; the other 5 are the secret (31**5 = 2.9 x 10**7).
- Per code: every wrong try at a pending code counts against that code, from every address and
  worker together, and after `WRONG_TRIES_PER_CODE` (25) the code is withdrawn. So the chance
  that a given code is ever guessed is at most 25 / 31**5 = 8.7 x 10**-7, below 10**-6, however
  many addresses, workers or windows the guesser uses. Counting per address alone bounds
  nothing: A addresses got about 10A tries a window (2A under a flood), and against a botnet of
  a million addresses that was 4.7 x 10**-6 for a code alive across two windows.
- A request whose locator names a live, unwithdrawn code is always checked, whatever its
  address sent before: a family behind the same carrier-grade NAT, school or hotel network as a
  guesser pairs at the first try. Its risk is only ever from tries at its own code.
- A request whose locator names no live code cannot pair, so refusing it refuses no valid code;
  these are what the address's allowance (`per_address` wrong codes a 15-minute window, 2 for
  every address while the overall count is past `overall`) slows: past it, 429 with
  Retry-After, and nothing is written. An address past its allowance also gets 429 for a wrong
  try at a live code (counted against the code), so the answer never tells it which locators
  are live; a valid code from it still pairs (201).
- Withdrawal is the cost: someone can spoil a family's code with 25 wrong tries at its locator.
  Knowing the locator means having seen the code; blind, withdrawing one code takes on average
  25 x 29,791 = 744,775 tries, and every live code the same 744,775 within the 15 minutes. The
  toy is told the code was withdrawn (410) and the parent page says so and makes a new code.
  (A 429 that counted a try at a live code takes a write; one for a code naming nothing live
  does not: about 0.03 ms apart at the median, measured on loopback. Many samples could show
  which locators are live, which cheapens withdrawing a code, never guessing one.)
- Capacity: 29,791 codes can wait at once (cloud.pairing.issue_code says so beyond that).

The counts live in the database so every worker, every address and every restart sees the
same numbers. A row holds a keyed hash of the address, of the code ("code:"), or "global", the
start of a window (a code's: when it was issued) and a count, never anything about a child.
Fixed windows let a guesser spend at most twice an address allowance across a window boundary;
a code's count has no window. IPv6 addresses count per /64, the block one household or host is
given, so a guesser cannot rotate within it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass

import sqlite_utils

from cloud.pairing import (
    WRONG_TRIES_PER_CODE,
    PendingCode,
    pending_code,
    redeem,
    redeem_in_transaction,
)
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
    """What became of one pairing request: paired; withdrawn (the code it names had too many
    wrong tries); wrong (401); or, with `retry_after_s`, 429. `checked` says whether the code
    was compared with a live one (a 429 to an address past its allowance may have been)."""

    retry_after_s: float | None = None
    paired: tuple[str, str, int] | None = None
    withdrawn: bool = False
    checked: bool = False


class PairingThrottle:
    def __init__(self, per_address: int, overall: int, key: str,
                 window_s: float = WINDOW_S, *, atomic: bool = True,
                 per_code: int | None = WRONG_TRIES_PER_CODE,
                 address_first: bool = False) -> None:
        """Two variants exist only as negative controls (tests/test_pairing_throttle_race,
        tests/test_pairing_per_code): `atomic=False` is the old read-then-write counting;
        `address_first=True` is the old rule that refuses an address past its allowance even
        a valid code; `per_code=None` checks every code naming a live one, without limit."""
        self.per_address = per_address
        self.overall = overall
        self.window_s = window_s
        self.atomic = atomic
        self.per_code = per_code
        self.address_first = address_first
        self._key = key.encode("utf-8")

    def _address_scope(self, client: str) -> str:
        digest = hmac.new(self._key, address_block(client).encode("utf-8"),
                          hashlib.sha256).hexdigest()
        return f"addr:{digest[:32]}"

    def _window(self, now: float) -> float:
        return math.floor(now / self.window_s) * self.window_s

    def _refused(self, window: float, now: float, *, checked: bool = False) -> PairingAttempt:
        return PairingAttempt(retry_after_s=max(1.0, window + self.window_s - now),
                              checked=checked)

    def withdrawn(self, db: sqlite_utils.Database, pending: PendingCode) -> bool:
        """Whether the code has had its share of wrong tries (never, with `per_code=None`)."""
        return self.per_code is not None and pending.wrong_tries(db, self._key) >= self.per_code

    def wrong_tries(self, db: sqlite_utils.Database, pending: PendingCode) -> int:
        return pending.wrong_tries(db, self._key)

    def attempt(self, db: sqlite_utils.Database, client: str, code: str,
                now: float) -> PairingAttempt:
        """Check the code if it names a live code, or if the client's allowance has room;
        count it if it is wrong.

        One write transaction (SQLite's single writer, PostgreSQL's writer lock: one at a time
        across every app server), and every count is taken by one conditional statement (an
        upsert that adds 1 only while the count is under its limit, RETURNING the new count):
        simultaneous wrong codes from one address get at most `per_address` checked among
        codes naming no live one, and simultaneous wrong tries at one code at most `per_code`.
        A correct code gives its address unit back and drops its code's count.
        """
        if not self.atomic:
            return self._attempt_read_then_write(db, client, code, now)
        window = self._window(now)
        scope = self._address_scope(client)
        with write_transaction(db):
            pending = pending_code(db, code, now)
            if pending is not None and self.withdrawn(db, pending):
                return PairingAttempt(withdrawn=True)  # nothing checked, nothing written
            taken = self._take(db, scope, window, self._allowance(db, window))
            if not taken and (pending is None or self.address_first):
                return self._refused(window, now)  # nothing was written
            if pending is not None and pending.matches(code):
                paired = redeem_in_transaction(db, code, now)
                if paired is not None:
                    self._forget(db, *pending.counter(self._key))
                    if taken:
                        self._give_back(db, scope, window)
                    return PairingAttempt(paired=paired, checked=True)
            if (pending is not None and self.per_code is not None
                    and not self._take(db, *pending.counter(self._key), self.per_code)):
                return PairingAttempt(withdrawn=True)  # unreachable while writers queue
            self._count(db, GLOBAL_SCOPE, window)
            if not taken:  # the same answer as for a code naming nothing live
                return self._refused(window, now, checked=pending is not None)
            return PairingAttempt(checked=pending is not None)

    def _allowance(self, db: sqlite_utils.Database, window: float) -> int:
        row = db.execute("SELECT failures FROM pairing_failures WHERE scope = ? "
                         "AND window_start = ?", [GLOBAL_SCOPE, window]).fetchone()
        flooded = row is not None and row[0] >= self.overall
        return min(self.per_address, UNDER_FLOOD_ALLOWANCE) if flooded else self.per_address

    def _take(self, db: sqlite_utils.Database, scope: str, window: float, limit: int) -> bool:
        """Add 1 to the count if it is under `limit`; whether it did."""
        return db.execute(
            "INSERT INTO pairing_failures (scope, window_start, failures) VALUES (?, ?, 1) "
            "ON CONFLICT (scope, window_start) DO UPDATE "
            "SET failures = pairing_failures.failures + 1 "
            "WHERE pairing_failures.failures < ? RETURNING failures",
            [scope, window, limit]).fetchone() is not None

    def _give_back(self, db: sqlite_utils.Database, scope: str, window: float) -> None:
        db.execute("UPDATE pairing_failures SET failures = failures - 1 "
                   "WHERE scope = ? AND window_start = ?", [scope, window])
        db.execute("DELETE FROM pairing_failures WHERE scope = ? AND window_start = ? "
                   "AND failures <= 0", [scope, window])

    def _forget(self, db: sqlite_utils.Database, scope: str, window: float) -> None:
        db.execute("DELETE FROM pairing_failures WHERE scope = ? AND window_start = ?",
                   [scope, window])

    def _count(self, db: sqlite_utils.Database, scope: str, window: float) -> None:
        db.execute(
            "INSERT INTO pairing_failures (scope, window_start, failures) "
            "VALUES (?, ?, 1) ON CONFLICT (scope, window_start) "
            "DO UPDATE SET failures = pairing_failures.failures + 1", [scope, window])

    def _attempt_read_then_write(self, db: sqlite_utils.Database, client: str, code: str,
                                 now: float) -> PairingAttempt:
        """The checks, the redemption and the counts as separate steps: two app servers
        can both read a count under its limit before either adds to it."""
        pending = pending_code(db, code, now)
        if pending is not None and self.withdrawn(db, pending):
            return PairingAttempt(withdrawn=True)
        wait = self.retry_after_s(db, client, now)
        if wait is not None and pending is None:
            return PairingAttempt(retry_after_s=wait)
        paired = redeem(db, code, now)
        if paired is None:
            with write_transaction(db):
                if wait is None:
                    self._count(db, self._address_scope(client), self._window(now))
                self._count(db, GLOBAL_SCOPE, self._window(now))
                if pending is not None:
                    self._count(db, *pending.counter(self._key))
        if paired is not None:
            return PairingAttempt(paired=paired, checked=True)
        return PairingAttempt(retry_after_s=wait, checked=pending is not None)

    def retry_after_s(self, db: sqlite_utils.Database, client: str,
                      now: float) -> float | None:
        """Seconds until this client may send a code naming no live one again, or None if it
        may now (a read only).

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
