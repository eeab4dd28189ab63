"""Checks on per-child keys (crypto-shredding): values at rest are sealed, and an erased child's
key is gone, so no copy anywhere (WAL, backups, replicas) can be read (R18, R19).

They read what an outside evaluator with the machine's files could: the database and the key
store opened read-only, and raw bytes. A copy of a value counts as readable when it is in the
bytes as plain text, or sealed (`tk1:...`) and some key still in the key store opens it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.keys.envelope import PREFIX, EnvelopeError, associated_data, parts
from cloud.keys.location import KEY_STORE_SUFFIX
from scenarios.args import arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import find_in_files, raw_files, read_only, tables
from scenarios.context import ScenarioContext
from teddy.contracts.data_map import data_map

# A sealed value as it sits in a file's bytes: the prefix, then base64url of at least a nonce
# and a tag (28 bytes, 38 characters).
SEALED_BYTES = re.compile(re.escape(PREFIX).encode() + rb"[A-Za-z0-9_\-]{38,}={0,2}")


def key_store_path(db_path: Path) -> Path:
    return Path(f"{db_path}{KEY_STORE_SUFFIX}")


def live_keys(db_path: Path) -> dict[int, bytes]:
    """Every key the key store still holds, by child id; empty if there is no store."""
    path = key_store_path(db_path)
    if not path.exists():
        return {}
    with read_only(path) as store:
        return {int(child): bytes(key) for child, key in store.execute(
            "SELECT child_id, key FROM child_keys WHERE key IS NOT NULL")}


def key_state(db_path: Path, child_id: int) -> str:
    """"live", "destroyed" (a tombstone) or "never made"."""
    path = key_store_path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"no key store at {path}")
    with read_only(path) as store:
        row = store.execute("SELECT key IS NULL FROM child_keys WHERE child_id = ?",
                            [child_id]).fetchone()
    return "never made" if row is None else "destroyed" if row[0] else "live"


@dataclass(frozen=True)
class Opened:
    file: str
    child_id: int
    field: str
    plaintext: str


def _sealed_fields() -> list[tuple[str, str]]:
    return [(t, c) for t, cols in data_map().sealed_columns().items() for c in cols]


def open_sealed_copies(files: list[Path], keys: dict[int, bytes]) -> list[Opened]:
    """Every sealed value in the files' raw bytes that a live key opens, with its plaintext.
    A key opens only its own child's values, so each is tried as that child's, field by
    field."""
    ciphers = [(child, AESGCM(key)) for child, key in keys.items()]
    fields = _sealed_fields()
    opened: list[Opened] = []
    for path in files:
        seen: set[bytes] = set()
        for match in SEALED_BYTES.finditer(path.read_bytes()):
            token = match.group(0)
            if token in seen:
                continue
            seen.add(token)
            for nonce, body in _candidates(token.decode("ascii")):
                found = _open_any(ciphers, fields, nonce, body)
                if found is not None:
                    child, field, plain = found
                    opened.append(Opened(path.name, child, field, plain))
                    break
    return opened


def _candidates(token: str) -> list[tuple[bytes, bytes]]:
    """A record stores the next column's bytes right after the value, and base64url letters
    may run on into them ("...YY6-8US"), so every length a sealed value could have is tried,
    longest first: base64 comes in groups of four characters."""
    text = token[len(PREFIX):]
    found = []
    for length in range(len(text) - len(text) % 4, 39, -4):
        try:
            found.append(parts(PREFIX + text[:length]))
        except EnvelopeError:
            continue
    return found


def _open_any(ciphers: list[tuple[int, AESGCM]], fields: list[tuple[str, str]], nonce: bytes,
              body: bytes) -> tuple[int, str, str] | None:
    for child, aead in ciphers:
        for table, column in fields:
            try:
                plain = aead.decrypt(nonce, body, associated_data(child, table, column))
            except InvalidTag:
                continue
            return child, f"{table}.{column}", plain.decode("utf-8", "replace")
    return None


def readable_copies(db_path: Path, backup_dir: Path | None, values: list[str]) -> list[str]:
    """`file: value` for each value readable in a sealed copy some live key opens."""
    opened = open_sealed_copies(raw_files(db_path, backup_dir), live_keys(db_path))
    return [f"{o.file}: {value!r} sealed in {o.field}, opened with child {o.child_id}'s key"
            for value in values for o in opened if value.lower() in o.plaintext.lower()]


@check("child_key_destroyed")
def child_key_destroyed(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """After an erasure the child's key is gone from the key store, leaving only a tombstone,
    and no sealed copy of the child's values left in any file opens with a key that exists
    (R18, R19)."""
    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    state = key_state(ctx.cloud.db_path, child_id)
    problems = [] if state == "destroyed" else [f"child {child_id}'s key is {state}, not "
                                                "destroyed"]
    keys = live_keys(ctx.cloud.db_path)
    opened = [o for o in open_sealed_copies(raw_files(ctx.cloud.db_path, ctx.cloud.backup_dir),
                                            keys) if o.child_id == child_id]
    problems += [f"{o.file}: a sealed {o.field} of the child still opens" for o in opened]
    return held_if(problems, f"child {child_id}'s key is destroyed (a tombstone is left); "
                             f"{len(keys)} keys remain and none opens anything of the child")


@check("sealed_at_rest")
def sealed_at_rest(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Every value in a column the data map seals is sealed, and none of the child's values is
    stored in plain text anywhere else, in any table or in the files' raw bytes (R19)."""
    values = str_list(args, "values")
    problems: list[str] = []
    sealed_seen = 0
    with read_only(ctx.cloud.db_path) as db:
        live = tables(db)
        for table, column in _sealed_fields():
            if table not in live:
                continue
            for (value,) in db.execute(f'SELECT "{column}" FROM "{table}" '
                                       f'WHERE "{column}" IS NOT NULL'):
                sealed_seen += 1
                if not (isinstance(value, str) and value.startswith(PREFIX)):
                    problems.append(f"{table}.{column} holds a value that is not sealed")
        for table in live:
            names = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            for name in names:
                for value in values:
                    hit = db.execute(f'SELECT count(*) FROM "{table}" WHERE '
                                     f'instr(lower(CAST("{name}" AS TEXT)), ?) > 0',
                                     [value.lower()]).fetchone()[0]
                    if hit:
                        problems.append(f"{value!r} in plain text in {table}.{name}")
    problems += [f"in plain text in the bytes of {hit}" for hit in
                 find_in_files(raw_files(ctx.cloud.db_path, ctx.cloud.backup_dir), values)]
    if not sealed_seen and not problems:
        raise ValueError("no sealed value in the database: the scenario stored nothing to check")
    return held_if(problems, f"{sealed_seen} values sealed; none of {values} in plain text in "
                             "any table or file")
