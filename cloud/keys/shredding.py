"""The key half of an erasure proof: the child's key is gone, and nothing left opens as theirs.

Deleting rows cannot be proved on PostgreSQL by reading files (WAL segments, replicas and base
backups keep old tuples), so the proof rests on the key instead: once it is destroyed, every
copy anywhere is ciphertext nobody can open. Two things are checked. The key store holds a
tombstone and no key for the child. And every sealed value still in the data database, in any
row, is tried with every key that exists, as the erased child's value of its column: a value
that opens would be the child's data, readable despite the erasure (a key kept under another
id, or a value re-sealed with someone else's key).
"""

from __future__ import annotations

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

    @property
    def problem(self) -> str | None:
        if not self.key_destroyed:
            return "the child's key is still in the key store"
        if self.sealed_values_readable:
            return (f"{self.sealed_values_readable} sealed values still open as the child's "
                    "with a key that exists")
        return None


def sealed_values(db: sqlite_utils.Database) -> list[tuple[str, str, str]]:
    """(table, column, value) for every sealed value in the data database."""
    live = set(db.table_names())
    found: list[tuple[str, str, str]] = []
    for table, columns in data_map().sealed_columns().items():
        if table not in live:
            continue
        for column in columns:
            found += [(table, column, r[0]) for r in db.execute(
                f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL').fetchall()]
    return found


def prove_key_erasure(db: sqlite_utils.Database, store: KeyStore, child_id: int) -> KeyProof:
    keys = [AESGCM(key) for _child, key in store.live_keys()]
    values = sealed_values(db)
    readable = 0
    for table, column, value in values:
        try:
            nonce, body = parts(value)
        except EnvelopeError:
            continue  # not sealed at all: the plaintext checks are the ones that catch that
        aad = associated_data(child_id, table, column)
        for aead in keys:
            try:
                aead.decrypt(nonce, body, aad)
            except InvalidTag:
                continue
            readable += 1
            break
    return KeyProof(key_destroyed=store.is_destroyed(child_id) and not store.has_key(child_id),
                    keys_tried=len(keys), sealed_values_tried=len(values),
                    sealed_values_readable=readable)
