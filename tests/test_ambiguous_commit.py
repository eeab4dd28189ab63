"""When PostgreSQL goes away during a COMMIT, the toy is told the outcome is unknown, never
"nothing was stored", and the toy's retries with the same message_id store it once (issue 26,
item 12)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import sqlite_utils
from cloud_helpers import db_for, intent_body, make_app, make_family, signed_intent_headers
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
    # The database is back: the toy's retries (same body, fresh signatures) converge on one
    # stored intent and one reply.
    monkeypatch.undo()
    replies = []
    for _ in range(2):
        retry = app.test_client().post("/api/v1/intent", data=body,
                                       headers=signed_intent_headers(family, body))
        assert retry.status_code == 200, retry.get_json()
        replies.append(retry.get_json()["reply"])
    assert replies[0] == replies[1]
    assert db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0] == 1


@pytest.mark.parametrize("dedupe", [True, False], ids=["dedupe", "negative-control"])
@pytest.mark.backends("postgresql")
def test_a_commit_that_landed_but_was_never_acknowledged_is_stored_once_after_retries(
        tmp_path: Path, cloud_db_path: str, monkeypatch: pytest.MonkeyPatch,
        dedupe: bool) -> None:
    """The COMMIT reached PostgreSQL and was applied, then the connection broke before its
    answer came back: 503 outcome_unknown although the intent is stored. The toy's retries
    must not store it again; without the dedupe (negative control) they do."""
    app = make_app(tmp_path, db_path=cloud_db_path, dedupe_retries=dedupe)
    db = db_for(app)
    family = make_family(db, purposes=("core", "history"))
    real = PgDatabase._execute

    def lose_the_acknowledgement(self: PgDatabase, sql: str, params=None):  # type: ignore[no-untyped-def]
        result = real(self, sql, params)
        if sql.strip().upper() == "COMMIT":
            raise CommitOutcomeUnknown("connection lost after COMMIT was sent")
        return result

    body = intent_body(family, "tell_story", {"topic": "dragons"})
    with monkeypatch.context() as fault:
        fault.setattr(PgDatabase, "_execute", lose_the_acknowledgement)
        lost = app.test_client().post("/api/v1/intent", data=body,
                                      headers=signed_intent_headers(family, body))
    assert (lost.status_code, lost.get_json()["code"]) == (503, "outcome_unknown")
    stored = db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0]
    assert stored == 1  # it was stored after all
    for _ in range(3):
        retry = app.test_client().post("/api/v1/intent", data=body,
                                       headers=signed_intent_headers(family, body))
        assert retry.status_code == 200, retry.get_json()
    stored = db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0]
    db.close()
    assert stored == (1 if dedupe else 4)


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
