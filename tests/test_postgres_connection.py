"""The PostgreSQL connection object: the surface the cloud uses, and its translations."""

from __future__ import annotations

import json
import multiprocessing
import time

import psycopg
import pytest
from cloud_helpers import intent_body, make_family, signed_intent_headers
from flask import Flask

from cloud.storage.db import in_transaction, open_db, write_transaction
from cloud.storage.postgres import (
    WRITER_LOCK_KEY,
    NestedTransaction,
    PgDatabase,
    UnsupportedOnPostgres,
    translate_placeholders,
)


@pytest.mark.parametrize(("sql", "translated"), [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("SELECT '?' , ? FROM t", "SELECT '?' , %s FROM t"),
    ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
    ('SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = %s'),
    ("SELECT 1 -- why? because\nWHERE x = ?", "SELECT 1 -- why? because\nWHERE x = %s"),
    ("SELECT 5 % 2, '%' || ?", "SELECT 5 %% 2, '%%' || %s"),
    ("SELECT 1", "SELECT 1"),
])
def test_placeholders_are_translated_outside_quotes_and_comments(sql: str,
                                                                 translated: str) -> None:
    assert translate_placeholders(sql) == translated


def test_an_unterminated_quote_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        translate_placeholders("SELECT 'oops, ?")


def test_the_surface_the_cloud_uses(postgres_url: str) -> None:
    db = open_db(postgres_url)
    try:
        assert isinstance(db, PgDatabase)
        assert "children" in db.table_names()
        cursor = db.execute("INSERT INTO login_attempts (key_hash, attempted_at) "
                            "VALUES (?, ?), (?, ?)", ["a", 1.5, "b", 2.5])
        assert cursor.rowcount == 2
        rows = db.execute("SELECT key_hash, attempted_at FROM login_attempts WHERE "
                          "key_hash LIKE ? ORDER BY 1", ["%"]).fetchall()
        assert rows == [("a", 1.5), ("b", 2.5)]
        assert [r[0] for r in db.execute("SELECT key_hash FROM login_attempts ORDER BY 1")] \
            == ["a", "b"]
        # SUM of integers is NUMERIC in PostgreSQL; it comes back a JSON-friendly int.
        total = db.execute("SELECT SUM(id) FROM login_attempts").fetchone()[0]
        assert isinstance(total, int) and json.dumps(total)
        assert db.execute("SELECT 'it''s ?' WHERE 1 = ?", [1]).fetchone() == ("it's ?",)
        assert db["seen_nonces"].pks == ["device_id", "nonce"]
        assert [c.name for c in db["pairing_codes"].columns] == ["code", "child_id",
                                                                 "expires_at"]
        with pytest.raises(UnsupportedOnPostgres, match="SQLite-only"):
            db.execute("PRAGMA busy_timeout")
        with pytest.raises(AttributeError):
            _ = cursor.lastrowid  # callers use RETURNING id
    finally:
        db.close()


def test_write_transaction_commits_rolls_back_and_holds_the_writer_lock(
        postgres_url: str) -> None:
    db, other = open_db(postgres_url), PgDatabase(postgres_url, lock_timeout_ms=100)
    try:
        with write_transaction(db):
            assert in_transaction(db)
            db.execute("INSERT INTO login_attempts (key_hash, attempted_at) VALUES ('k', 1)")
            # Another connection cannot become the writer meanwhile.
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("BEGIN IMMEDIATE")
            assert not in_transaction(other)
        assert not in_transaction(db)
        db.execute("BEGIN")
        with pytest.raises(NestedTransaction):
            db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        with pytest.raises(RuntimeError), write_transaction(db):
            db.execute("INSERT INTO login_attempts (key_hash, attempted_at) VALUES ('x', 1)")
            raise RuntimeError("fails half-way")
        assert [r[0] for r in db.execute("SELECT key_hash FROM login_attempts")] == ["k"]
        # Negative control: with the lock released, the other connection gets it at once.
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        db.close()
        other.close()


def _hold_writer_lock(url: str, held: multiprocessing.synchronize.Event,
                      release: multiprocessing.synchronize.Event) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITER_LOCK_KEY])
        held.set()
        release.wait(30)
        conn.execute("ROLLBACK")


@pytest.mark.backends("postgresql")
def test_a_held_writer_lock_is_a_json_503_and_nothing_is_stored(app: Flask, db) -> None:  # type: ignore[no-untyped-def]
    family = make_family(db)
    url = app.config["TEDDY"].db_path
    ctx = multiprocessing.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_writer_lock, args=(url, held, release))
    holder.start()
    try:
        assert held.wait(30)
        client = app.test_client()
        body = intent_body(family, "greet")
        started = time.monotonic()
        response = client.post("/api/v1/intent", data=body,
                               headers=signed_intent_headers(family, body))
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.json["code"] == "database_busy"
    assert response.headers["Retry-After"] == "1"
    assert waited < 5  # the request lock timeout, not the 60 s idle limit
    assert db.execute("SELECT count(*) FROM seen_nonces").fetchone()[0] == 0
    # Negative control: the same request once the lock is free is stored.
    body = intent_body(family, "greet")
    ok = app.test_client().post("/api/v1/intent", data=body,
                                headers=signed_intent_headers(family, body))
    assert ok.status_code == 200, ok.get_data(as_text=True)


@pytest.mark.backends("postgresql")
def test_a_lost_connection_is_a_503_then_the_next_request_reconnects(app: Flask, db) -> None:  # type: ignore[no-untyped-def]
    family = make_family(db)
    client = app.test_client()
    body = intent_body(family, "greet")
    assert client.post("/api/v1/intent", data=body,
                       headers=signed_intent_headers(family, body)).status_code == 200
    # The server ends every other session of this database, as a restart or failover would.
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    body = intent_body(family, "greet")
    lost = client.post("/api/v1/intent", data=body, headers=signed_intent_headers(family, body))
    assert lost.status_code == 503 and lost.json["code"] == "database_busy"
    body = intent_body(family, "greet")
    again = client.post("/api/v1/intent", data=body, headers=signed_intent_headers(family, body))
    assert again.status_code == 200
    # The lost request left no trace; the two answered ones each used up their nonce.
    assert db.execute("SELECT count(*) FROM seen_nonces").fetchone()[0] == 2
