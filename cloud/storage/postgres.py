"""A PostgreSQL connection with the small surface the cloud uses on `sqlite_utils.Database`.

The cloud writes its SQL once, with `?` placeholders, and runs it on either backend. This
object offers what the code calls on an SQLite database: `execute(sql, params)` returning a
cursor (fetchone, fetchall, iteration, rowcount, description), `table_names()`,
`db[table].columns` / `.pks`, `close()` and `conn`. It does not rewrite SQL dialects: callers
write portable SQL (RETURNING instead of lastrowid, ON CONFLICT instead of INSERT OR ...,
"double quotes" for identifiers, COALESCE, CASE instead of two-argument MAX). It translates
only what has no portable spelling:

- `?` placeholders become psycopg's `%s` (outside string literals, quoted identifiers and
  comments; a literal `%` is doubled so psycopg leaves it alone);
- a transaction start. SQLite lets one writer in at a time, and code such as the audit chain
  append (read the head, then link to it), consent changes, pairing and erasure rely on that.
  Here every explicit transaction (`BEGIN`, `BEGIN IMMEDIATE`) opens with
  `pg_advisory_xact_lock(WRITER_LOCK_KEY)`: the same one-writer-at-a-time order across every
  connection, process and app server sharing the database, released by COMMIT or ROLLBACK.
  An explicit lock rather than SERIALIZABLE with retries, because every such transaction here
  is short and writes, so serialising them costs little, while retrying would need each
  caller to be restartable (some send e-mail or write files between statements). Reads that
  run outside a transaction do not wait for it, as with SQLite's WAL. Statements under READ
  COMMITTED each see everything committed before they start, so a transaction that reads
  after taking the lock sees the previous writer's commit, as under SQLite.
- `PRAGMA` is refused with a clear error: such code is SQLite-only and must be guarded.

The connection runs in autocommit mode: a statement outside BEGIN ... COMMIT commits on its
own, as with `sqlite3.connect(isolation_level=None)`.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Loader

from cloud.storage.url import redacted

# One key for "the database's writer": any 64-bit constant that no other advisory lock of the
# cloud uses ('teddywri' in ASCII). Other locks (the purge, the erasure runner) take their
# own keys.
WRITER_LOCK_KEY = 0x7465646479777269
# Statements that start a transaction in the code base, SQLite spellings included.
_BEGIN = re.compile(r"\s*BEGIN(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?(\s+TRANSACTION)?\s*;?\s*",
                    re.IGNORECASE)
_PRAGMA = re.compile(r"\s*PRAGMA\b", re.IGNORECASE)
_COMMIT = re.compile(r"\s*(COMMIT|END)(\s+TRANSACTION)?\s*;?\s*", re.IGNORECASE)
# A string literal, a quoted identifier, a line comment, a placeholder or a percent sign.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?|%")
DEFAULT_LOCK_TIMEOUT_MS = 5000
# A transaction left open by a crashed request must not hold the writer lock for ever.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
CONNECT_TIMEOUT_S = 5
# libpq's smallest connect timeout: a request's connection gives up on a server that accepts
# the socket but never answers (stopped, frozen) after this long.
REQUEST_CONNECT_TIMEOUT_S = 2
# TCP keepalives: a server host that vanished is noticed within about 5 s + 2 x 1 s, and
# tcp_user_timeout bounds how long sent data may go unacknowledged.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 1,
              "keepalives_count": 2, "tcp_user_timeout": 5000}
# How often the watchdog looks at statements in flight.
WATCH_EVERY_S = 0.1
# How much longer than statement_timeout the client waits for the server's own cancellation.
WATCHDOG_GRACE_S = 0.3


class CommitOutcomeUnknown(psycopg.OperationalError):
    """The connection broke while a COMMIT was on its way: the transaction may or may not have
    been stored. Never to be reported as "nothing was stored"."""


class _Watchdog:
    """Cuts the socket of a connection whose statement has run past its deadline.

    statement_timeout is enforced by the server, so it cannot help when the server itself is
    stopped (SIGSTOP, a frozen VM, a dead network path): the client would wait for ever. One
    thread per process looks every WATCH_EVERY_S at the statements in flight and shuts down
    the socket of any past its deadline, which ends the wait at once with a connection error
    (answered 503); the broken connection is replaced on the next request.
    """

    def __init__(self) -> None:
        self._watched: weakref.WeakSet[PgDatabase] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pid = 0

    def watch(self, db: PgDatabase) -> None:
        with self._lock:
            self._watched.add(db)
            if self._pid != os.getpid():  # none yet, or inherited across a fork (not running)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="teddy-pg-watchdog",
                                 daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_EVERY_S)
            now = time.monotonic()
            with self._lock:
                late = [db for db in self._watched if db.overdue(now)]
            for db in late:
                db.cut()


_watchdog = _Watchdog()


class NestedTransaction(RuntimeError):
    """BEGIN inside an open transaction: a bug in the caller, refused as SQLite refuses it."""


class UnsupportedOnPostgres(RuntimeError):
    """SQLite-only SQL (a PRAGMA) reached a PostgreSQL database; the caller must guard it."""


@functools.lru_cache(maxsize=2048)
def translate_placeholders(sql: str) -> str:
    """`?` -> `%s` and `%` -> `%%` outside quotes and comments; quotes keep their text but
    double `%`, since psycopg reads `%` everywhere in a query that has parameters."""
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        return token.replace("%", "%%")

    translated = _TOKENS.sub(replace, sql)
    # A quote the token pattern could not close is left over; say so instead of guessing.
    stripped = _TOKENS.sub("", sql)
    if "'" in stripped or '"' in stripped:
        raise ValueError(f"unterminated quote in SQL: {sql[:80]!r}")
    return translated


class _NumericLoader(Loader):
    """SUM() of integers is NUMERIC in PostgreSQL: load it as int (or float), as SQLite does,
    so values stay JSON-serialisable and compare equal to the SQLite side's."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode("ascii"))
        return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class Column:
    """The fields of sqlite_utils' Column the cloud reads, with portable type names."""

    cid: int
    name: str
    type: str
    notnull: bool
    default_value: Any
    is_pk: bool


# PostgreSQL's type names back to the portable names the migrations write. Only the types the
# translation produces: a 4-byte `real` or `integer` is not what SQLite stores, so it keeps
# its own name and the schema parity check notices it.
PORTABLE_TYPES = {"bigint": "INTEGER", "double precision": "REAL", "bytea": "BLOB",
                  "text": "TEXT"}


class PgTable:
    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db = db
        self.name = name

    @property
    def columns(self) -> list[Column]:
        rows = self.db.execute(
            "SELECT c.ordinal_position, c.column_name, c.data_type, c.is_nullable, "
            "c.column_default FROM information_schema.columns c "
            "WHERE c.table_schema = current_schema() AND c.table_name = ? "
            "ORDER BY c.ordinal_position", [self.name]).fetchall()
        pks = set(self.pks)
        return [Column(int(pos) - 1, name, PORTABLE_TYPES.get(data_type, f"PG:{data_type}"),
                       nullable == "NO", default, name in pks)
                for pos, name, data_type, nullable, default in rows]

    @property
    def pks(self) -> list[str]:
        rows = self.db.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass(?) AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)", [f'"{self.name}"']).fetchall()
        return [r[0] for r in rows]

    def exists(self) -> bool:
        return self.name in self.db.table_names()


class PgDatabase:
    """One PostgreSQL connection, used like the cloud uses `sqlite_utils.Database`."""

    backend = "postgresql"

    def __init__(self, url: str, *, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
                 statement_timeout_ms: int | None = None) -> None:
        """`statement_timeout_ms` (request connections): the server cancels a statement
        running longer, and the client cuts the connection if even that does not come back
        within WATCHDOG_GRACE_S more (a stopped server)."""
        self.url = url
        self._busy_since: float | None = None
        self._deadline_s: float | None = None
        connect_timeout = CONNECT_TIMEOUT_S if statement_timeout_ms is None \
            else REQUEST_CONNECT_TIMEOUT_S
        self.conn: psycopg.Connection[Any] = psycopg.connect(
            url, autocommit=True, connect_timeout=connect_timeout,
            application_name="teddy-cloud", **KEEPALIVES)
        self.conn.adapters.register_loader("numeric", _NumericLoader)
        self.lock_timeout_ms = lock_timeout_ms
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute(
            f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}")
        self.set_lock_timeout(lock_timeout_ms)
        if statement_timeout_ms is not None:
            self.conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            self._deadline_s = statement_timeout_ms / 1000 + WATCHDOG_GRACE_S
            _watchdog.watch(self)

    def overdue(self, now: float) -> bool:
        started, limit = self._busy_since, self._deadline_s
        return started is not None and limit is not None and now - started > limit

    def cut(self) -> None:
        """Shut the socket down under a statement that is waiting on a silent server."""
        try:
            fd = self.conn.pgconn.socket
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            pass  # already closed: the statement has its error

    def __repr__(self) -> str:
        return f"<PgDatabase {redacted(self.url)}>"

    def set_lock_timeout(self, milliseconds: int) -> None:
        """How long a statement waits for a lock (the writer lock included) before failing
        with LockNotAvailable, which the app answers as 503 "busy, retry"."""
        self.conn.execute(f"SET lock_timeout = {int(milliseconds)}")
        self.lock_timeout_ms = milliseconds

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        self._busy_since = time.monotonic()
        try:
            return self._execute(sql, params)
        except psycopg.OperationalError as exc:
            if _COMMIT.fullmatch(sql) and not self.usable:
                raise CommitOutcomeUnknown(
                    f"the connection broke during COMMIT ({exc}); the transaction may or may "
                    "not have been stored") from exc
            raise
        finally:
            self._busy_since = None

    def _execute(self, sql: str, params: Sequence[Any] | None) -> psycopg.Cursor[Any]:
        if _BEGIN.fullmatch(sql):
            if self.in_transaction:
                # PostgreSQL would only warn and carry on inside the outer transaction, whose
                # COMMIT would then come early; SQLite refuses, and so does this.
                raise NestedTransaction("cannot start a transaction within a transaction")
            try:
                # One round trip for both (no parameters: the simple query protocol, which
                # takes several statements); the key is a constant, not user input.
                return self.conn.execute(
                    f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})")
            except BaseException:
                if self.usable and self.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        if _PRAGMA.match(sql):
            raise UnsupportedOnPostgres(
                f"{sql.strip()[:60]!r} is SQLite-only; this code path must check the backend")
        return self.conn.execute(translate_placeholders(sql), list(params or []))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(translate_placeholders(sql), [list(r) for r in rows])

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "ORDER BY tablename")]

    def __getitem__(self, table: str) -> PgTable:
        return PgTable(self, table)

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != pq.TransactionStatus.IDLE

    @property
    def usable(self) -> bool:
        """False once the server went away or the connection broke: open a new one."""
        return not self.conn.closed and not self.conn.broken

    def rollback_if_open(self) -> None:
        if self.usable and self.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    def __iter__(self) -> Iterator[PgTable]:
        return iter(PgTable(self, name) for name in self.table_names())
