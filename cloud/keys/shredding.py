"""The key half of an erasure proof: the child's key is gone, physically, and nothing left opens
as theirs.

Deleting rows cannot be proved on PostgreSQL by reading files (WAL segments, replicas and base
backups keep old tuples), so the proof rests on the key instead: once it is destroyed, every
copy anywhere is ciphertext nobody can open. Three things are checked. The key store holds a
tombstone and no key for the child. The store's own files held no copy of the key's bytes
when it was destroyed (cloud.keys.residue; the store is a file on every backend for this).
And no key that exists opens what is left: a live key whose fingerprint is the destroyed
key's (the key kept under another id) is tried on every sealed value left, and every sealed
value is tried, as the erased child's, with the key of the child whose row holds it (a value
re-sealed with the holder's key). Each value is tried with at most two keys, so the proof
costs time in proportion to the data, not to the data times the children.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlite_utils
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.keys.envelope import EnvelopeError, associated_data, parts
from cloud.keys.store import KeyStore
from teddy.contracts.data_map import data_map


@dataclass(frozen=True)
class KeyProof:
    key_destroyed: bool
    keys_tried: int
    sealed_values_tried: int
    sealed_values_readable: int
    # Copies of the key's bytes in the key store's files after destroying it; None if the
    # store never searched (a tombstone with no key behind it).
    key_copies_in_store: int | None = 0

    @property
    def problem(self) -> str | None:
        if not self.key_destroyed:
            return "the child's key is still in the key store"
        if self.key_copies_in_store:
            return (f"{self.key_copies_in_store} copies of the destroyed key remain in the key "
                    "store's files")
        if self.sealed_values_readable:
            return (f"{self.sealed_values_readable} sealed values still open as the child's "
                    "with a key that exists")
        return None


def sealed_values(db: sqlite_utils.Database) -> list[tuple[str, str, int, str]]:
    """(table, column, holder child id, value) for every sealed value in the data database."""
    live = set(db.table_names())
    found: list[tuple[str, str, int, str]] = []
    for table, columns in data_map().sealed_columns().items():
        if table not in live:
            continue
        owner = "id" if table == "children" else "child_id"
        for column in columns:
            found += [(table, column, int(r[0]), r[1]) for r in db.execute(
                f'SELECT "{owner}", "{column}" FROM "{table}" '
                f'WHERE "{column}" IS NOT NULL').fetchall()]
    return found


def _opens(aead: AESGCM, nonce: bytes, body: bytes, aad: bytes) -> bool:
    try:
        aead.decrypt(nonce, body, aad)
    except InvalidTag:
        return False
    return True


def prove_key_erasure(db: sqlite_utils.Database, store: KeyStore, child_id: int) -> KeyProof:
    live = dict(store.live_keys())
    erased = store.destroyed_fingerprint(child_id)
    kept = [AESGCM(key) for key in live.values()
            if erased is not None and hashlib.sha256(key).digest() == erased]
    holders: dict[int, AESGCM] = {}
    values = sealed_values(db)
    readable = 0
    for table, column, holder, value in values:
        try:
            nonce, body = parts(value)
        except EnvelopeError:
            continue  # not sealed at all: the plaintext checks are the ones that catch that
        aad = associated_data(child_id, table, column)
        candidates = list(kept)
        if holder in live:
            if holder not in holders:
                holders[holder] = AESGCM(live[holder])
            candidates.append(holders[holder])
        if any(_opens(aead, nonce, body, aad) for aead in candidates):
            readable += 1
    destroyed = store.is_destroyed(child_id) and not store.has_key(child_id)
    return KeyProof(key_destroyed=destroyed, keys_tried=len(holders) + len(kept),
                    sealed_values_tried=len(values), sealed_values_readable=readable,
                    key_copies_in_store=store.residue(child_id) if destroyed else 0)
