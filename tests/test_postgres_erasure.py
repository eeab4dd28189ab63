"""Erasure and the retention commands on PostgreSQL: what runs, what is SQLite's and says so."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from retention_helpers import chatty_family, cloud_cli, count

from cloud import audit
from cloud.retention.erasure import erase_child
from cloud.retention.jobs import load_job, rows_left
from cloud.retention.policy import erase_plan


def test_erasure_runs_on_postgres_and_proves_no_row_names_the_child(
        tmp_path: Path, postgres_url: str) -> None:
    app, db, family = chatty_family(tmp_path, db_path=postgres_url)
    assert rows_left(db, family.child_id)  # not vacuous: the child is there to erase
    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=postgres_url)
    assert receipt.proof.scope == "rows"
    assert receipt.proof.clean and receipt.proof.problem is None
    assert (receipt.proof.files_scanned, receipt.backups_rewritten) == (0, 0)
    assert receipt.total_rows >= 6
    assert rows_left(db, family.child_id) == {}
    for table in erase_plan(db).by_child:
        assert count(db, table, "child_id = ?", [family.child_id]) == 0, table
    job = load_job(db, receipt.receipt_id)
    assert job is not None and job.done and job.backups == {}
    entry = db.execute("SELECT details_json FROM audit_log WHERE action = "
                       "'child.erase.proof'").fetchone()
    assert json.loads(entry[0])["scope"] == "rows_clean"
    assert audit.verify(db).ok
    # Nothing was written beside the URL as if it were a file.
    assert not list(Path.cwd().glob("postgresql*"))


def test_negative_control_a_cloud_that_keeps_the_rows_gets_no_clean_proof(
        tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _app, db, family = chatty_family(tmp_path, db_path=postgres_url)
    monkeypatch.setattr("cloud.retention.jobs.delete_child_rows",
                        lambda *_args, **_kwargs: {})
    receipt = erase_child(db, child_id=family.child_id, parent_id=family.parent_id,
                          now=time.time(), db_path=postgres_url)
    assert not receipt.proof.clean
    assert "children" in (receipt.proof.problem or "")
    assert {"table": "children", "rows": 1} in receipt.proof.findings


def test_sqlite_file_commands_say_what_to_use_on_postgres(
        postgres_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud.storage.db import open_db

    # The session key file lives beside an SQLite file; with a URL it is given (issue 18 moves
    # it into the database).
    monkeypatch.setenv("TEDDY_SECRET_KEY", "test-key")
    open_db(postgres_url).close()
    assert cloud_cli(["backup", "--db", postgres_url]) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert cloud_cli(["verify-erasure", "--db", postgres_url, "--canary", "zelda"]) == 2
    assert "SQLite" in capsys.readouterr().err
    assert cloud_cli(["verify-audit", "--db", postgres_url]) == 0
    assert "audit log intact" in capsys.readouterr().out
    assert cloud_cli(["purge", "--db", postgres_url, "--json"]) == 0
    assert '"total_rows": 0' in capsys.readouterr().out


@pytest.mark.parametrize("value", ["mysql://root@localhost/teddy", "sqlite://cloud.db"])
def test_an_unsupported_database_is_one_line_and_exit_2(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cloud_cli(["verify-audit", "--db", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("teddy cloud verify-audit: ") and len(err.strip().splitlines()) == 1


def test_an_unreachable_postgres_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql:///teddy?host={tmp_path}&user=nobody&password=hunter2"
    assert cloud_cli(["verify-audit", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "cannot use PostgreSQL database" in err and "hunter2" not in err
