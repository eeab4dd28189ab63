"""Building real cloud state for tests: parents, children, consents and paired toys.

Everything goes through the cloud's own modules (consent, pairing) or plain inserts into the
real schema; nothing is faked. Reuse these from any test that needs a family.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import requests
import sqlite_utils
from argon2 import PasswordHasher
from flask import Flask

from cloud import consent, pairing
from cloud.app import create_app
from cloud.keys.fields import seal_value
from cloud.storage.db import is_postgres, open_db
from cloud.storage.url import backend_of
from teddy.cloud_process import CloudProcess
from teddy.contracts import signing

DEFAULT_PASSWORD = "correct horse battery staple"
# A refused write (constraint, append-only trigger), as either backend reports it.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)
# Cheap parameters keep tests fast; verification reads them from the hash, so it still works.
_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@dataclass(frozen=True)
class Family:
    parent_id: int
    child_id: int
    device_id: str
    secret: str
    email: str

    def sign(self, method: str, path: str, body: bytes = b"", now: float | None = None,
             content_type: str | None = None) -> dict[str, str]:
        return signing.sign_headers(self.device_id, self.secret, method, path, body, now,
                                    content_type)


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    """The cloud app on tmp_path/cloud.db, or on the database `db_path=` names (a PostgreSQL
    URL from the `cloud_db_path` / `postgres_url` fixtures)."""
    overrides.setdefault("db_path", str(tmp_path / "cloud.db"))
    if backend_of(overrides["db_path"]) == "postgresql":
        # The session key file lives beside an SQLite file; a URL has no "beside". One key per
        # database, as the file gives, so apps on the same database (workers, restarts) agree.
        overrides.setdefault("secret_key", "test-session-key-" + hashlib.sha256(
            overrides["db_path"].encode()).hexdigest())
    app = create_app(**overrides)
    app.config["TESTING"] = True
    return app


def db_for(app: Flask) -> sqlite_utils.Database:
    return open_db(app.config["TEDDY"].db_path)


def add_parent(db: sqlite_utils.Database, email: str, now: float,
               password: str = DEFAULT_PASSWORD) -> int:
    cursor = db.execute(
        "INSERT INTO parents (email, password_hash, created_at) VALUES (?, ?, ?) RETURNING id",
        [email, _hasher.hash(password), now],
    )
    return int(cursor.fetchone()[0])


def add_child(db: sqlite_utils.Database, parent_id: int, now: float, *,
              first_name: str | None = None, age_band: str = "6-8", country: str = "US") -> int:
    cursor = db.execute(
        "INSERT INTO children (parent_id, first_name, age_band, country, created_at, "
        "last_active_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        [parent_id, None, age_band, country, now, now],
    )
    child_id = int(cursor.fetchone()[0])
    if first_name is not None:
        # As the parent pages do: the name is sealed with the child's own key (cloud.keys).
        db.execute("UPDATE children SET first_name = ? WHERE id = ?",
                   [seal_value(db, child_id, "children", "first_name", first_name, now),
                    child_id])
    return child_id


def grant(db: sqlite_utils.Database, parent_id: int, child_id: int, purposes: Iterable[str],
          now: float, *, notice_version: int = 1, method: str = "signed_form") -> None:
    for purpose in purposes:
        consent.grant(db, child_id=child_id, parent_id=parent_id, purpose=purpose,
                      notice_version=notice_version, method=method, now=now)


def pair_toy(db: sqlite_utils.Database, child_id: int, now: float) -> tuple[str, str]:
    code = pairing.issue_code(db, child_id, now)
    paired = pairing.redeem(db, code, now)
    assert paired is not None
    device_id, secret, _child = paired
    return device_id, secret


def make_family(db: sqlite_utils.Database, *, email: str | None = None,
                purposes: Iterable[str] = ("core",), now: float | None = None,
                first_name: str | None = None) -> Family:
    now = time.time() if now is None else now
    email = email or f"parent-{uuid.uuid4().hex[:8]}@example.org"
    parent_id = add_parent(db, email, now)
    child_id = add_child(db, parent_id, now, first_name=first_name)
    grant(db, parent_id, child_id, purposes, now)
    device_id, secret = pair_toy(db, child_id, now)
    return Family(parent_id, child_id, device_id, secret, email)


def intent_body(family: Family, intent: str, slots: dict[str, str | int] | None = None, /, *,
                policy_version: int = 0, **fields: Any) -> bytes:
    """A well-formed message body; `fields` override or add keys to build malformed ones."""
    message: dict[str, Any] = {
        "message_id": uuid.uuid4().hex,
        "device_id": family.device_id,
        "sent_at": int(time.time()),
        "locale": "en",
        "intent": intent,
        "slots": slots or {},
        "policy_version": policy_version,
    }
    message.update(fields)
    return json.dumps(message).encode("utf-8")


def signed_intent_headers(family: Family, body: bytes, now: float | None = None,
                          content_type: str = "application/json") -> dict[str, str]:
    return {"Content-Type": content_type,
            **family.sign("POST", "/api/v1/intent", body, now, content_type)}


def dump_tables(db: sqlite_utils.Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal dumps mean nothing changed."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    for table in sorted(db.table_names()):
        rows = db.execute(f"SELECT * FROM \"{table}\"").fetchall()
        dump[table] = sorted(rows, key=repr)
    return dump


def fail_inserts(db: sqlite_utils.Database, table: str, message: str) -> None:
    """Make every insert into `table` fail with `message`, on either backend: a fault in the
    middle of a transaction, to show nothing half-written is kept."""
    if backend_of_db(db) == "postgresql":
        db.execute(f"CREATE FUNCTION fail_{table}() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$")
        db.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION fail_{table}()")
    else:
        db.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def backend_of_db(db: Any) -> str:
    return "postgresql" if is_postgres(db) else "sqlite"


def cloud_backend_of(app: Flask) -> str:
    """"sqlite" or "postgresql": the backend the app's database is on."""
    return backend_of(app.config["TEDDY"].db_path)


class TlsCloudProcess(CloudProcess):
    """The same server with --tls; healthy once it answers over HTTPS under the pinned CA."""

    def __init__(self, db_path: Path, tls_dir: Path) -> None:
        super().__init__(db_path, extra_args=["--tls", "--tls-dir", str(tls_dir)])
        self.ca_file = tls_dir / "ca.pem"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text(errors="replace")[-2000:])
            with contextlib.suppress(requests.RequestException, OSError):
                if self.ca_file.exists() and requests.get(
                        self.url + "/healthz", timeout=1,
                        verify=str(self.ca_file)).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"TLS cloud server did not become healthy in {timeout_s:.0f} s")


def fresh_pairing_code(db_path: str) -> str:
    """A pairing code for a new parent's new child, as the parent page would show it."""
    db = open_db(db_path)
    now = time.time()
    child_id = add_child(db, add_parent(db, f"pair-{uuid.uuid4().hex[:8]}@example.com", now), now)
    code = pairing.issue_code(db, child_id, now)
    db.close()
    return code


def pair_toy_with(cloud: CloudProcess, state: Path) -> Path:
    """A toy state folder paired with `cloud` by the real `teddy device pair`, as a parent would."""
    result = subprocess.run([sys.executable, "-m", "teddy", "device", "pair", "--cloud", cloud.url,
                             "--code", fresh_pairing_code(cloud.db_path), "--state", str(state)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return state
