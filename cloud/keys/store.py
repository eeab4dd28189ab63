"""The key store: one random 256-bit key per child, kept apart from the data it opens.

A key is made the first time something about the child is sealed, and destroyed first when
the child is erased. Destroying leaves a tombstone (the child id, when, and a SHA-256
fingerprint of the key, never the key), so a request racing the erasure can never make the
child a fresh key and write readable data again: `key_or_create` refuses a destroyed child.
The tombstones also outlive any restore of the data (cloud.keys.tombstones redoes their
erasures before a server serves).

The store is always an SQLite file of its own, whichever backend holds the data: deleting a
row from a PostgreSQL table leaves the old tuple in the heap file and the WAL, where nothing
this cloud controls can remove it, so a key kept there could not be proved gone. The file has
synchronous=FULL (a key that was made, or destroyed, stays so across a power cut) and
secure_delete; after a destruction its WAL is checkpointed and truncated, and then the raw
bytes of every file of the store are searched for the key. What that search found is kept on
the tombstone and is part of the erasure proof (cloud.keys.shredding).
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from collections.abc import Iterator
from functools import cache

import sqlite_utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.keys.envelope import KEY_BYTES, new_key
from cloud.keys.location import MEMORY, KeyStoreConfigError, is_postgres, key_store_location
from cloud.keys.residue import KeyResidue, fingerprint, scan_store_files
from cloud.seam import seam_point
from cloud.storage.url import sqlite_path

# How long a worker process may go on using a key it looked up. Destroying a key forgets it
# in the process that destroys it at once; another worker may hold it this long more, in memory
# only, for a request already under way (the erasure's rows go after the key, and a sealed
# value written meanwhile is sealed with a key that no longer exists anywhere on disk).
KEY_CACHE_S = 1.0
KEY_CACHE_MAX = 4096


class KeyDestroyed(LookupError):
    """The child's key was destroyed: the child was erased and nothing may be sealed for it."""


class NoKey(LookupError):
    """The child has no key yet, so nothing sealed for it can exist."""


SCHEMA = ("CREATE TABLE IF NOT EXISTS child_keys (child_id INTEGER PRIMARY KEY, key BLOB, "
          "created_at DOUBLE PRECISION NOT NULL, destroyed_at DOUBLE PRECISION)")
# Added to stores made before the residue search; key NULL with destroyed_at set is a
# tombstone, and these say what the search of the store's files found after destroying.
TOMBSTONE_COLUMNS = {"key_sha256": "BLOB", "residue_copies": "INTEGER",
                     "residue_bytes": "INTEGER"}


class KeyStore:
    def __init__(self, location: str) -> None:
        if is_postgres(location):
            raise KeyStoreConfigError(
                "the key store is a file (a PostgreSQL table keeps destroyed keys in its heap "
                "and WAL); give --key-store /path/to/teddy.child-keys")
        self.location = location
        self._lock = threading.Lock()
        self._memory: sqlite_utils.Database | None = None
        self._ready = False
        self._ciphers: dict[int, tuple[float, AESGCM]] = {}
        self._tuned: weakref.WeakSet[sqlite_utils.Database] = weakref.WeakSet()

    @property
    def on_disk(self) -> bool:
        return self.location != MEMORY

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite_utils.Database:
        from cloud.storage import db as storage

        if not self.on_disk:
            # An in-memory data database (tests, demos) gets an in-memory store for the process.
            if self._memory is None:
                self._memory = storage.connect(MEMORY)
            return self._memory
        if not self._ready:
            os.makedirs(os.path.dirname(os.path.abspath(self.location)), mode=0o700,
                        exist_ok=True)
        conn = storage.worker_connection(self.location)
        if conn not in self._tuned:
            # A key made or destroyed must survive a power cut, unlike a request-number row.
            conn.execute("PRAGMA synchronous=FULL")
            self._tuned.add(conn)
        return conn

    def db(self) -> sqlite_utils.Database:
        conn = self._connect()
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._create_or_upgrade(conn)
                    if self.on_disk:
                        from cloud.storage import files

                        files.tighten_existing(self.location)
                    self._ready = True
        return conn

    @staticmethod
    def _create_or_upgrade(conn: sqlite_utils.Database) -> None:
        # Every worker of every server does this when it first touches the store: one at a
        # time, so two never both see a column missing and both add it.
        from cloud.storage import db as storage

        with storage.write_transaction(conn):
            conn.execute(SCHEMA)
            have = {row[1] for row in conn.execute("PRAGMA table_info(child_keys)")}
            for column, kind in TOMBSTONE_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE child_keys ADD COLUMN {column} {kind}")

    def exists(self) -> bool:
        """Whether the store's file is there (an in-memory store always is)."""
        return not self.on_disk or os.path.exists(self.location)

    # -- keys -------------------------------------------------------------------------------

    def cipher(self, child_id: int) -> AESGCM:
        """The child's key, ready to seal and open, remembered for KEY_CACHE_S seconds: a
        request uses it several times. NoKey or KeyDestroyed as for `key`."""
        now = time.monotonic()
        cached = self._ciphers.get(child_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        cipher = AESGCM(self.key(child_id))
        self._ciphers[child_id] = (now + KEY_CACHE_S, cipher)
        if len(self._ciphers) > KEY_CACHE_MAX:
            self._ciphers = {c: v for c, v in self._ciphers.items() if v[0] > now}
        return cipher

    def cipher_or_create(self, child_id: int, now: float) -> AESGCM:
        try:
            return self.cipher(child_id)
        except NoKey:
            self.key_or_create(child_id, now)
            return self.cipher(child_id)

    def key(self, child_id: int) -> bytes:
        """The child's key; NoKey if it never had one, KeyDestroyed if it was erased."""
        row = self.db().execute("SELECT key, destroyed_at FROM child_keys WHERE child_id = ?",
                                [child_id]).fetchone()
        if row is None:
            raise NoKey(f"child {child_id} has no key")
        if row[0] is None:
            raise KeyDestroyed(f"child {child_id}'s key was destroyed")
        return bytes(row[0])

    def key_or_create(self, child_id: int, now: float) -> bytes:
        if not isinstance(child_id, int) or isinstance(child_id, bool):
            raise TypeError("child_id must be an integer")
        try:
            return self.key(child_id)  # the common case: a read, no write, no fsync
        except NoKey:
            pass
        conn = self.db()
        # ON CONFLICT keeps whichever key (or tombstone) is already there, so two workers
        # making the first key at once both end up with the same one.
        conn.execute("INSERT INTO child_keys (child_id, key, created_at) VALUES (?, ?, ?) "
                     "ON CONFLICT (child_id) DO NOTHING", [child_id, new_key(), now])
        key = self.key(child_id)
        if len(key) != KEY_BYTES:
            raise ValueError(f"child {child_id}'s key has {len(key)} bytes, not {KEY_BYTES}")
        return key

    @seam_point("destroy_child_key")
    def destroy(self, child_id: int, now: float) -> bool:
        """Destroy the child's key, durably, before anything else of the erasure happens.
        True if a key was destroyed now; False if there was none or it already was. Leaves a
        tombstone either way, and on it what a search of the store's files then found."""
        self._ciphers.pop(child_id, None)
        conn = self.db()
        row = conn.execute("SELECT key FROM child_keys WHERE child_id = ?",
                           [child_id]).fetchone()
        key = bytes(row[0]) if row is not None and row[0] is not None else None
        destroyed = key is not None and conn.execute(
            "UPDATE child_keys SET key = NULL, destroyed_at = ?, key_sha256 = ? "
            "WHERE child_id = ? AND key IS NOT NULL",
            [now, fingerprint(key), child_id]).rowcount > 0
        conn.execute("INSERT INTO child_keys (child_id, key, created_at, destroyed_at) "
                     "VALUES (?, NULL, ?, ?) ON CONFLICT (child_id) DO NOTHING",
                     [child_id, now, now])
        if destroyed and key is not None:
            self.record_residue(child_id, self.clear_residue(key=key))
        elif self.residue(child_id) is None:
            # Destroyed by a run that stopped before searching: search by the fingerprint.
            digest = self.destroyed_fingerprint(child_id)
            if digest is not None:
                self.record_residue(child_id, self.clear_residue(digest=digest))
        return destroyed

    def clear_residue(self, *, key: bytes | None = None,
                      digest: bytes | None = None) -> KeyResidue:
        """Move the store's WAL into its file (whose freed bytes secure_delete zeroed), empty
        the WAL, then search every file of the store for the key's bytes."""
        if not self.on_disk:
            return KeyResidue(copies=0, files_scanned=0, bytes_scanned=0)
        from cloud.retention.checkpoint import checkpoint_truncate

        checkpoint_truncate(self.db())
        return scan_store_files(self.location, key, digest=digest)

    def record_residue(self, child_id: int, residue: KeyResidue) -> None:
        self.db().execute("UPDATE child_keys SET residue_copies = ?, residue_bytes = ? "
                          "WHERE child_id = ?",
                          [residue.copies, residue.bytes_scanned, child_id])

    def residue(self, child_id: int) -> int | None:
        """Copies of the child's destroyed key found in the store's files when it was
        destroyed; None if it was never searched for (a tombstone with no key behind it)."""
        row = self.db().execute("SELECT residue_copies FROM child_keys "
                                "WHERE child_id = ? AND key IS NULL", [child_id]).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def destroyed_fingerprint(self, child_id: int) -> bytes | None:
        row = self.db().execute("SELECT key_sha256 FROM child_keys WHERE child_id = ? "
                                "AND key IS NULL", [child_id]).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def is_destroyed(self, child_id: int) -> bool:
        row = self.db().execute("SELECT key IS NULL FROM child_keys WHERE child_id = ?",
                                [child_id]).fetchone()
        return bool(row and row[0])

    def has_key(self, child_id: int) -> bool:
        row = self.db().execute("SELECT 1 FROM child_keys WHERE child_id = ? AND key IS NOT "
                                "NULL", [child_id]).fetchone()
        return row is not None

    def live_keys(self) -> Iterator[tuple[int, bytes]]:
        for child_id, key in self.db().execute(
                "SELECT child_id, key FROM child_keys WHERE key IS NOT NULL ORDER BY child_id"
        ).fetchall():
            yield int(child_id), bytes(key)

    def known_children(self) -> set[int]:
        """Every child with a key or a tombstone here."""
        return {int(r[0]) for r in self.db().execute("SELECT child_id FROM child_keys")}

    def tombstones(self) -> list[int]:
        """Every erased child, oldest erasure first."""
        return [int(r[0]) for r in self.db().execute(
            "SELECT child_id FROM child_keys WHERE key IS NULL ORDER BY destroyed_at, child_id")]


_configured: dict[str, str] = {}
# An in-memory data database lives and dies with its connection; so does its key store.
_memory_stores: weakref.WeakKeyDictionary[sqlite_utils.Database, KeyStore] = \
    weakref.WeakKeyDictionary()


def _normal(db_path: str) -> str:
    """One spelling per data database, whether named by the config or found on a connection."""
    if is_postgres(db_path) or db_path in ("", MEMORY):
        return db_path
    return os.path.abspath(sqlite_path(db_path))


def configure(db_path: str, key_store: str | None) -> KeyStore:
    """Name the key store of a data database for this process (the server does, at start)."""
    location = key_store_location(db_path, key_store)
    _configured[_normal(db_path)] = location
    store_for_path.cache_clear()
    _store_at.cache_clear()
    return _store_at(location)


@cache
def _store_at(location: str) -> KeyStore:
    return KeyStore(location)


@functools.lru_cache(maxsize=64)
def store_for_path(db_path: str) -> KeyStore:
    configured = _configured.get(_normal(db_path))
    return _store_at(configured or key_store_location(db_path, None))


_used_with: weakref.WeakKeyDictionary[sqlite_utils.Database, KeyStore] = \
    weakref.WeakKeyDictionary()


def use_store(db: sqlite_utils.Database, store: KeyStore) -> None:
    """Open this connection's sealed values with `store`: a backup copy is sealed with the
    live database's keys, and has no key store of its own."""
    _used_with[db] = store


def store_for(db: sqlite_utils.Database) -> KeyStore:
    """The key store of the data database this connection is open on."""
    chosen = _used_with.get(db)
    if chosen is not None:
        return chosen
    location = data_location(db)
    if location == MEMORY:
        store = _memory_stores.get(db)
        if store is None:
            store = _memory_stores[db] = KeyStore(MEMORY)
        return store
    return store_for_path(location)


_locations: weakref.WeakKeyDictionary[sqlite_utils.Database, str] = weakref.WeakKeyDictionary()


def data_location(db: sqlite_utils.Database) -> str:
    """Where this connection's data lives; asked once per connection (a request seals and
    opens several values)."""
    location = _locations.get(db)
    if location is None:
        url = getattr(db, "url", None)
        if isinstance(url, str):
            location = url
        else:
            rows = db.execute("PRAGMA database_list").fetchall()
            location = next(file for _seq, name, file in rows if name == "main") or MEMORY
        _locations[db] = location
    return location
