"""When PostgreSQL goes away during a COMMIT, the toy is told the outcome is unknown, never
"nothing was stored" (issue 26, item 12)."""

from __future__ import annotations

import psycopg
import pytest
import sqlite_utils
from cloud_helpers import intent_body, make_family, signed_intent_headers
from flask import Flask

from cloud.storage.postgres import CommitOutcomeUnknown, PgDatabase


@pytest.mark.backends("postgresql")
def test_a_connection_lost_during_commit_is_answered_as_outcome_unknown(
        app: Flask, db: sqlite_utils.Database, cloud_db_path: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    family = make_family(db, purposes=("core", "history"))
    real = PgDatabase._execute

    def crash_at_commit(self: PgDatabase, sql: str, params=None):  # type: ignore[no-untyped-def]
        if sql.strip().upper() == "COMMIT" and self.in_transaction:
            pid = self.conn.info.backend_pid
            with psycopg.connect(cloud_db_path, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return real(self, sql, params)

    monkeypatch.setattr(PgDatabase, "_execute", crash_at_commit)
    body = intent_body(family, "tell_story", {"topic": "dragons"})
    reply = app.test_client().post("/api/v1/intent", data=body,
                                   headers=signed_intent_headers(family, body))
    assert reply.status_code == 503, reply.get_json()
    assert reply.get_json()["code"] == "outcome_unknown"
    assert "may or may not" in reply.get_json()["error"]
    assert "nothing was stored" not in reply.get_json()["error"]


@pytest.mark.backends("postgresql")
def test_a_commit_refused_by_a_live_server_is_not_unknown(cloud_db_path: str) -> None:
    """Control: the server answered (here: a deferred constraint), so the outcome is known."""
    db = PgDatabase(cloud_db_path)
    try:
        db.execute("CREATE TEMP TABLE t (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        db.execute("BEGIN")
        db.execute("INSERT INTO t VALUES (1), (1)")
        with pytest.raises(psycopg.errors.UniqueViolation) as raised:
            db.execute("COMMIT")
        assert not isinstance(raised.value, CommitOutcomeUnknown)
    finally:
        db.close()
