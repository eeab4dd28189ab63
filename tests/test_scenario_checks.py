"""Checks tried on hand-made evidence, on SQLite files and on a real PostgreSQL database, so
they can be seen to fail; and the rule that only declared checks may ever say "not applicable".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scenarios.backend import SQLITE_FILE_CHECKS, not_applicable_reason
from scenarios.checks import CHECKS, Observation, load_all
from scenarios.checks.dbview import columns, dump, guard_triggers, read_only, tables
from scenarios.checks.erasure import retry_honest
from scenarios.checks.store import canary_absent_from_files, db_rows
from scenarios.context import ScenarioContext
from scenarios.model import CheckSpec, Scenario
from scenarios.processes import CloudServer
from scenarios.runner import _evaluate

SCHEMA = ["CREATE TABLE children (id INTEGER PRIMARY KEY, first_name TEXT, photo BLOB)",
          "CREATE TABLE notes (id INTEGER PRIMARY KEY, child_id INTEGER, body TEXT)"]
Setup = Callable[[list[tuple[str, list[Any]]]], str]


def _scenario() -> Scenario:
    return Scenario(path=Path("x.yaml"), name="x", title="x", story="", toy_variant=None,
                    cloud_variant=None, tls=False, cloud_env={}, cloud_config={}, steps=())


def _sqlite(tmp_path: Path) -> Setup:
    def make(statements: list[tuple[str, list[Any]]]) -> str:
        path = tmp_path / "cloud.db"
        db = sqlite3.connect(path)
        for sql, params in statements:
            db.execute(sql, params)
        db.commit()
        db.close()
        return str(path)
    return make


def _postgres(url: str) -> Setup:
    def make(statements: list[tuple[str, list[Any]]]) -> str:
        with psycopg.connect(url, autocommit=True) as db:
            for sql, params in statements:
                db.execute(sql.replace("?", "%s").replace("BLOB", "BYTEA"), params)
        return url
    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    return _postgres(request.getfixturevalue("postgres_url"))


def _context(tmp_path: Path, database: str) -> ScenarioContext:
    return ScenarioContext(_scenario(), tmp_path, CloudServer(tmp_path, database=database))


def _with_child(setup: Setup, name: str) -> str:
    return setup([(SCHEMA[0], []), (SCHEMA[1], []),
                  ("INSERT INTO children (id, first_name, photo) VALUES (?, ?, ?)",
                   [7, name, b"\x00raw " + name.encode()]),
                  ("INSERT INTO notes (id, child_id, body) VALUES (?, ?, ?)",
                   [1, 7, "100% sure? yes"])])


def test_a_retry_that_says_nothing_here_while_copies_remain_is_a_violation(
        tmp_path: Path, setup: Setup) -> None:
    ctx = _context(tmp_path, _with_child(setup, "Scarlett"))
    ctx.family("a").retry = {"status": 404, "text": "Not found", "receipt": False}
    seen = retry_honest(ctx, {"values": ["scarlett"]})
    assert not seen.held and "while copies remain" in seen.evidence
    where = "every row" if ctx.cloud.backend == "postgresql" else "raw bytes"
    assert where in seen.evidence


def test_progress_or_an_honest_not_found_hold(tmp_path: Path, setup: Setup) -> None:
    ctx = _context(tmp_path, _with_child(setup, "Scarlett"))
    ctx.family("a").retry = {"status": 202, "text": "in progress", "receipt": False}
    assert retry_honest(ctx, {"values": ["scarlett"]}).held
    ctx.family("a").retry = {"status": 404, "text": "Not found", "receipt": False}
    assert retry_honest(ctx, {"values": ["nobody-by-this-name"]}).held


def test_the_read_only_view_reads_both_backends_alike(tmp_path: Path, setup: Setup) -> None:
    database = _with_child(setup, "Willow")
    with read_only(database) as db:
        assert tables(db) == ["children", "notes"]
        assert columns(db, "notes") == ["id", "child_id", "body"]
        # `?` placeholders, "quoted" identifiers and a literal % work on both.
        assert db.execute('SELECT "body" FROM notes WHERE child_id = ? AND body LIKE ?',
                          [7, "100%%"]).fetchone()[0] == "100% sure? yes"
        assert db.execute("SELECT COUNT(*) FROM children WHERE first_name = '?'"
                          ).fetchone()[0] == 0
    rows = dump(database)
    assert rows["notes"] == [(1, 7, "100% sure? yes")]
    assert bytes(rows["children"][0][2]).endswith(b"Willow")


def test_the_read_only_view_cannot_write(tmp_path: Path, setup: Setup) -> None:
    database = _with_child(setup, "Willow")
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)), \
            read_only(database) as db:
        db.execute("DELETE FROM children")
    assert len(dump(database)["children"]) == 1


def test_db_rows_counts_and_fails_on_both(tmp_path: Path, setup: Setup) -> None:
    ctx = _context(tmp_path, _with_child(setup, "Willow"))
    ctx.family("a").child_id = 7
    assert db_rows(ctx, {"table": "notes", "family": "a", "count": 1}).held
    seen = db_rows(ctx, {"table": "notes", "family": "a", "count": 0})
    assert not seen.held and "1 notes rows" in seen.evidence


def test_append_only_guards_are_seen_on_postgresql(postgres_url: str) -> None:
    guard = ("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN RAISE EXCEPTION 'append-only'; END $$")
    _postgres(postgres_url)([("CREATE TABLE audit_log (seq INTEGER)", []), (guard, []),
                             ("CREATE TRIGGER no_update BEFORE UPDATE ON audit_log "
                              "FOR EACH ROW EXECUTE FUNCTION refuse()", [])])
    with read_only(postgres_url) as db:
        assert guard_triggers(db, "audit_log") == {"UPDATE"}
    _postgres(postgres_url)([("CREATE TRIGGER no_delete BEFORE DELETE ON audit_log "
                              "FOR EACH ROW EXECUTE FUNCTION refuse()", [])])
    with read_only(postgres_url) as db:
        assert guard_triggers(db, "audit_log") == {"UPDATE", "DELETE"}


# -- "not applicable" is declared, never claimed --------------------------------------------
def _spec(kind: str, **args: Any) -> CheckSpec:
    return CheckSpec(index=0, id="c", kind=kind, title="t", rules=("R19",), expect="hold",
                     args=args)


def test_only_the_declared_file_checks_are_not_applicable_on_postgresql() -> None:
    kinds = set(load_all())
    assert set(SQLITE_FILE_CHECKS) <= kinds
    assert {k for k in kinds if not_applicable_reason(k, "postgresql")} == set(SQLITE_FILE_CHECKS)
    assert not [k for k in kinds if not_applicable_reason(k, "sqlite")]
    assert all("WAL" in reason for reason in SQLITE_FILE_CHECKS.values())


def test_the_file_scan_is_not_applicable_on_postgresql_and_says_why(
        tmp_path: Path, postgres_url: str) -> None:
    ctx = _context(tmp_path, _with_child(_postgres(postgres_url), "Scarlett"))
    result = _evaluate(ctx, _spec("canary_absent_from_files", values=["Scarlett"]))
    assert result.status == "not applicable" and "WAL" in result.evidence


def test_the_file_scan_still_fails_on_sqlite(tmp_path: Path) -> None:
    ctx = _context(tmp_path, _with_child(_sqlite(tmp_path), "Scarlett"))
    result = _evaluate(ctx, _spec("canary_absent_from_files", values=["Scarlett"]))
    assert result.status == "fail" and result.observed == "violated"
    assert not canary_absent_from_files(ctx, {"values": ["Scarlett"]}).held


def test_a_check_that_claims_not_applicable_without_leave_fails(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _context(tmp_path, _with_child(_postgres(postgres_url), "Scarlett"))
    monkeypatch.setitem(CHECKS, "child_gone_from_db",
                        lambda ctx, args: Observation(False, "rows remain", applicable=False))
    result = _evaluate(ctx, _spec("child_gone_from_db", family="a"))
    assert result.observed == "error" and result.status == "fail"
    assert "not declared" in result.evidence and "rows remain" in result.evidence


def test_only_verify_erasures_own_postgresql_refusal_is_excused(
        tmp_path: Path, postgres_url: str) -> None:
    from scenarios.checks.erasure import _declines_postgres

    refusal = ("teddy cloud verify-erasure: verify-erasure works on SQLite database files "
               "only; on PostgreSQL the server's files ... are not this cloud's to scan")
    on_postgres = _context(tmp_path, postgres_url)
    on_sqlite = _context(tmp_path, str(tmp_path / "cloud.db"))
    assert _declines_postgres(on_postgres, 2, refusal)
    assert not _declines_postgres(on_postgres, 1, refusal)  # found a canary: a failure
    assert not _declines_postgres(on_postgres, 2, "no such option --canary")
    assert not _declines_postgres(on_sqlite, 2, refusal)


def test_only_the_sqlite_backup_step_is_skipped_and_only_on_postgresql() -> None:
    from scenarios.backend import step_skipped_because
    from scenarios.steps import STEPS

    skipped = {a for a in STEPS if step_skipped_because(a, "postgresql")}
    assert skipped == {"backup"}
    assert not [a for a in STEPS if step_skipped_because(a, "sqlite")]
