"""Explicit, versioned schema migrations. Append new steps; never edit an applied one."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import sqlite_utils


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    """Run statements one by one: executescript() would COMMIT the migration's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:60]}")


def _v1_initial(db: sqlite_utils.Database) -> None:
    _run_script(db,
        """
        CREATE TABLE parents (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE children (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            first_name TEXT,
            age_band TEXT NOT NULL,
            country TEXT NOT NULL,
            policy_version INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            last_active_at REAL NOT NULL
        );
        CREATE INDEX children_by_parent ON children(parent_id);
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            child_id INTEGER NOT NULL REFERENCES children(id) ON DELETE CASCADE,
            secret TEXT NOT NULL,
            paired_at REAL NOT NULL,
            last_seen_at REAL
        );
        CREATE INDEX devices_by_child ON devices(child_id);
        CREATE TABLE pairing_codes (
            code TEXT PRIMARY KEY,
            child_id INTEGER NOT NULL REFERENCES children(id) ON DELETE CASCADE,
            expires_at REAL NOT NULL
        );
        CREATE TABLE consents (
            id INTEGER PRIMARY KEY,
            child_id INTEGER NOT NULL REFERENCES children(id) ON DELETE CASCADE,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            purpose TEXT NOT NULL,
            notice_version INTEGER NOT NULL,
            method TEXT NOT NULL,
            granted_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE INDEX consents_by_child ON consents(child_id, purpose);
        CREATE TABLE profile_facts (
            id INTEGER PRIMARY KEY,
            child_id INTEGER NOT NULL REFERENCES children(id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            purpose TEXT NOT NULL,
            collected_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            UNIQUE (child_id, key)
        );
        CREATE INDEX profile_facts_by_expiry ON profile_facts(expires_at);
        CREATE TABLE intent_events (
            id INTEGER PRIMARY KEY,
            child_id INTEGER NOT NULL REFERENCES children(id) ON DELETE CASCADE,
            device_id TEXT NOT NULL,
            intent TEXT NOT NULL,
            slots_json TEXT NOT NULL,
            received_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX intent_events_by_child ON intent_events(child_id);
        CREATE INDEX intent_events_by_expiry ON intent_events(expires_at);
        CREATE TABLE seen_nonces (
            device_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            seen_at REAL NOT NULL,
            PRIMARY KEY (device_id, nonce)
        ) WITHOUT ROWID;
        CREATE INDEX seen_nonces_by_time ON seen_nonces(seen_at);
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            details_json TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """
    )


def _v2_audit_chain_cannot_fork(db: sqlite_utils.Database) -> None:
    # Two writers appending at once would both link to the same predecessor; a unique link
    # makes the second one fail instead of silently forking the chain.
    db.execute("CREATE UNIQUE INDEX audit_log_one_successor ON audit_log(prev_hash)")


def _v3_parent_web(db: sqlite_utils.Database) -> None:
    # Parent web (issue 6): sign-in throttling, pending consent verifications, and the
    # simulated mailbox through which e-mail-plus and text-plus messages reach the parent.
    _run_script(db,
        """
        CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            key_hash TEXT NOT NULL,
            attempted_at REAL NOT NULL
        );
        CREATE INDEX login_attempts_by_key ON login_attempts(key_hash, attempted_at);
        CREATE TABLE verification_requests (
            id TEXT PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            child_id INTEGER NOT NULL REFERENCES children(id) ON DELETE CASCADE,
            method TEXT NOT NULL,
            purposes_json TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX verification_requests_by_child ON verification_requests(child_id);
        CREATE TABLE parent_outbox (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            child_id INTEGER REFERENCES children(id) ON DELETE CASCADE,
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            link TEXT,
            created_at REAL NOT NULL,
            deliver_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX parent_outbox_by_parent ON parent_outbox(parent_id, deliver_at);
        CREATE INDEX parent_outbox_by_child ON parent_outbox(child_id);
        """
    )


def _v4_ids_are_never_reused(db: sqlite_utils.Database) -> None:
    """Audit entries name `child:<id>` and `parent:<id>`: an erased child's id must never be
    given to a new child, so both tables are rebuilt with AUTOINCREMENT (SQLite's table
    rebuild procedure; it runs with foreign keys off, then checks them)."""
    _run_script(db,
        """
        CREATE TABLE parents_v4 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            email TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        INSERT INTO parents_v4 (id, email, password_hash, created_at)
            SELECT id, email, password_hash, created_at FROM parents;
        DROP TABLE parents;
        ALTER TABLE parents_v4 RENAME TO parents;
        CREATE TABLE children_v4 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            first_name TEXT,
            age_band TEXT NOT NULL,
            country TEXT NOT NULL,
            policy_version INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            last_active_at REAL NOT NULL
        );
        INSERT INTO children_v4 (id, parent_id, first_name, age_band, country, policy_version,
                                 created_at, last_active_at)
            SELECT id, parent_id, first_name, age_band, country, policy_version, created_at,
                   last_active_at FROM children;
        DROP TABLE children;
        ALTER TABLE children_v4 RENAME TO children;
        CREATE INDEX children_by_parent ON children(parent_id);
        """)


def _v5_audit_log_keeps_its_retention(db: sqlite_utils.Database) -> None:
    """Entries may go only once a chained `audit.trim` entry names them (cloud.audit.trim)."""
    _run_script(db,
        """
        DROP TRIGGER audit_log_no_delete;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        WHEN OLD.seq > (
            SELECT COALESCE(MAX(CAST(json_extract(details_json, '$.through_seq') AS INTEGER)), 0)
            FROM audit_log WHERE action = 'audit.trim')
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        """)


def _v6_erasure_jobs_and_pairing_counts(db: sqlite_utils.Database) -> None:
    """Erasure as a resumable job (R32), and pairing-code failures counted across workers.

    An erasure job names the erased child only by its never-reused id, never by any value
    about the child; the values its proof searches for live beside the database in a file of
    their own until the proof is done (cloud.retention.jobs). The pairing counts hold a keyed
    hash of an address or "global", a time window and a number: nothing about any child.
    """
    _run_script(db,
        """
        CREATE TABLE erasure_jobs (
            id TEXT PRIMARY KEY,
            erased_child_id INTEGER NOT NULL,
            parent_id INTEGER,
            reason TEXT NOT NULL,
            started_at REAL NOT NULL,
            step TEXT NOT NULL,
            rows_json TEXT NOT NULL,
            backups_json TEXT NOT NULL DEFAULT '{}',
            receipt_json TEXT,
            finished_at REAL
        );
        CREATE INDEX erasure_jobs_by_child ON erasure_jobs(erased_child_id);
        CREATE TABLE pairing_failures (
            scope TEXT NOT NULL,
            window_start REAL NOT NULL,
            failures INTEGER NOT NULL,
            PRIMARY KEY (scope, window_start)
        ) WITHOUT ROWID;
        """)


def _v7_parent_web_sessions_and_account_tokens(db: sqlite_utils.Database) -> None:
    """Parent web (issues 15.7, 16.3): sessions that sign-out can end on the server, one-time
    links for confirming a sign-up and resetting a password (both kept as hashes only), and
    accounts that wait for their address to be confirmed."""
    _run_script(db,
        """
        CREATE TABLE parent_sessions (
            token_hash TEXT PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            last_seen_at REAL NOT NULL,
            expires_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX parent_sessions_by_parent ON parent_sessions(parent_id);
        CREATE TABLE parent_tokens (
            token_hash TEXT PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parents(id) ON DELETE CASCADE,
            purpose TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX parent_tokens_by_parent ON parent_tokens(parent_id, purpose);
        ALTER TABLE parents ADD COLUMN pending_until REAL;
        """)


def _v9_seal_child_values(db: sqlite_utils.Database) -> None:
    """A data step: values the data map now seals with the child's key (cloud.keys) are
    sealed; no table changes shape. (v8 is the shared-state step of another branch.)"""
    from cloud.keys.upgrade import seal_plaintext

    seal_plaintext(db, time.time())


MIGRATIONS: list[tuple[int, Callable[[sqlite_utils.Database], None]]] = [
    (1, _v1_initial),
    (2, _v2_audit_chain_cannot_fork),
    (3, _v3_parent_web),
    (4, _v4_ids_are_never_reused),
    (5, _v5_audit_log_keeps_its_retention),
    (6, _v6_erasure_jobs_and_pairing_counts),
    (7, _v7_parent_web_sessions_and_account_tokens),
    (9, _v9_seal_child_values),
]
LATEST_VERSION = MIGRATIONS[-1][0]
# Steps that rebuild a referenced table; PRAGMA foreign_keys cannot change inside a transaction.
REBUILDS = {4}


def current_version(db: sqlite_utils.Database) -> int:
    if "schema_migrations" not in db.table_names():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer Teddy; this code must not touch it."""


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations, each in its own transaction; returns the schema version."""
    found = current_version(db)
    if found > LATEST_VERSION:
        raise SchemaTooNew(f"the database's schema is version {found}, newer than this Teddy "
                           f"knows ({LATEST_VERSION}); upgrade Teddy before opening it")
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    # BEGIN IMMEDIATE serialises concurrent workers starting against a fresh file.
    for version, step in MIGRATIONS:
        rebuild = version in REBUILDS
        if rebuild:
            db.execute("PRAGMA foreign_keys=OFF")
        db.execute("BEGIN IMMEDIATE")
        try:
            if current_version(db) < version:
                step(db)
                if rebuild and db.execute("PRAGMA foreign_key_check").fetchone():
                    raise RuntimeError(f"migration {version} broke a foreign key")
                db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [version, time.time()],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            if rebuild:
                db.execute("PRAGMA foreign_keys=ON")
    return current_version(db)
