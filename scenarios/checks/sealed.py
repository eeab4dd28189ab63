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
from cloud.keys.location import default_key_store
from scenarios.args import arg, str_list
from scenarios.backend import database_backend
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import columns, find_in_files, quoted, raw_files, read_only, tables
from scenarios.context import ScenarioContext
from teddy.contracts.data_map import data_map

# A sealed value as it sits in a file's bytes: the prefix, then base64url of at least a nonce
# and a tag (28 bytes, 38 characters).
SEALED_BYTES = re.compile(re.escape(PREFIX).encode() + rb"[A-Za-z0-9_\-]{38,}={0,2}")


def key_store(database: str | Path) -> str:
    """The key store the cloud keeps beside this database: a SQLite file or another
    PostgreSQL database (cloud.keys.location names it the same way for the cloud)."""
    return default_key_store(str(database))


def live_keys(database: str | Path) -> dict[int, bytes]:
    """Every key the key store still holds, by child id; empty if there is no store."""
    store_location = key_store(database)
    if database_backend(store_location) == "sqlite" and not Path(store_location).exists():
        return {}
    with read_only(store_location) as store:
        return {int(child): bytes(key) for child, key in store.execute(
            "SELECT child_id, key FROM child_keys WHERE key IS NOT NULL")}


def key_state(database: str | Path, child_id: int) -> str:
    """"live", "destroyed" (a tombstone) or "never made"."""
    with read_only(key_store(database)) as store:
        row = store.execute("SELECT key IS NULL FROM child_keys WHERE child_id = ?",
                            [child_id]).fetchone()
    return "never made" if row is None else "destroyed" if row[0] else "live"


def sealed_in_rows(database: str | Path) -> list[bytes]:
    """Every sealed value still in the data database's rows, whichever column holds it: on
    PostgreSQL the rows are what the cloud can be held to (its server's files are not)."""
    found: list[bytes] = []
    with read_only(database) as db:
        for table in tables(db):
            for column in columns(db, table):
                found += [str(value).encode("ascii", "replace") for (value,) in db.execute(
                    f"SELECT {quoted(column)} FROM {quoted(table)} "
                    f"WHERE CAST({quoted(column)} AS TEXT) LIKE ?", [PREFIX + "%"])]
    return found


@dataclass(frozen=True)
class Opened:
    file: str
    child_id: int
    field: str
    plaintext: str


def like_escaped(text: str) -> str:
    """Text matched literally inside a LIKE pattern with ESCAPE '!'."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _sealed_fields() -> list[tuple[str, str]]:
    return [(t, c) for t, cols in data_map().sealed_columns().items() for c in cols]


def open_sealed_copies(sources: list[tuple[str, bytes]], keys: dict[int, bytes]) -> list[Opened]:
    """Every sealed value in the sources' bytes (name, bytes) that a live key opens, with its
    plaintext. A key opens only its own child's values, so each is tried as that child's,
    field by field."""
    ciphers = [(child, AESGCM(key)) for child, key in keys.items()]
    fields = _sealed_fields()
    opened: list[Opened] = []
    for name, data in sources:
        seen: set[bytes] = set()
        for match in SEALED_BYTES.finditer(data):
            token = match.group(0)
            if token in seen:
                continue
            seen.add(token)
            for nonce, body in _candidates(token.decode("ascii")):
                found = _open_any(ciphers, fields, nonce, body)
                if found is not None:
                    child, field, plain = found
                    opened.append(Opened(name, child, field, plain))
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


def sealed_sources(database: str | Path, backup_dir: Path | None) -> list[tuple[str, bytes]]:
    """Where sealed copies may sit: on SQLite every file's raw bytes (database, WAL, journal,
    backups); on PostgreSQL the rows of the data database."""
    if database_backend(str(database)) == "postgresql":
        return [("rows of the data database", b"\n".join(sealed_in_rows(database)))]
    return [(path.name, path.read_bytes()) for path in raw_files(Path(database), backup_dir)]


def readable_copies(database: str | Path, backup_dir: Path | None,
                    values: list[str]) -> list[str]:
    """`where: value` for each value readable in a sealed copy some live key opens."""
    opened = open_sealed_copies(sealed_sources(database, backup_dir), live_keys(database))
    return [f"{o.file}: {value!r} sealed in {o.field}, opened with child {o.child_id}'s key"
            for value in values for o in opened if value.lower() in o.plaintext.lower()]


@check("child_key_destroyed")
def child_key_destroyed(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """After an erasure the child's key is gone from the key store, leaving only a tombstone,
    and no sealed copy of the child's values left in any file opens with a key that exists
    (R18, R19)."""
    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    database = ctx.cloud.database
    state = key_state(database, child_id)
    problems = [] if state == "destroyed" else [f"child {child_id}'s key is {state}, not "
                                                "destroyed"]
    keys = live_keys(database)
    opened = [o for o in open_sealed_copies(sealed_sources(database, ctx.cloud.backup_dir),
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
    database = ctx.cloud.database
    with read_only(database) as db:
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
            for name in columns(db, table):
                for value in values:
                    hit = db.execute(f"SELECT count(*) FROM {quoted(table)} WHERE "
                                     f"lower(CAST({quoted(name)} AS TEXT)) LIKE ? ESCAPE '!'",
                                     [f"%{like_escaped(value.lower())}%"]).fetchone()[0]
                    if hit:
                        problems.append(f"{value!r} in plain text in {table}.{name}")
    # On PostgreSQL the server's files are not the cloud's to scan (scenarios.backend); the
    # rows above are what it is held to there.
    if database_backend(str(database)) == "sqlite":
        problems += [f"in plain text in the bytes of {hit}" for hit in
                     find_in_files(raw_files(Path(database), ctx.cloud.backup_dir), values)]
    if not sealed_seen and not problems:
        raise ValueError("no sealed value in the database: the scenario stored nothing to check")
    return held_if(problems, f"{sealed_seen} values sealed; none of {values} in plain text in "
                             "any table or file")
