"""`--json` on the commands that report: the benchmarks and `cloud verify-audit`, in process."""

from __future__ import annotations

import argparse
import json
import sqlite3

import pytest

from cloud import audit
from cloud.storage.db import open_db
from teddy.bench import _json_summary
from teddy.cli import main
from teddy.json_output import add_json_options


def _bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_json_options(parser, "the summary")
    return parser.parse_args(argv)


def _a_bench(args: argparse.Namespace) -> int:
    print("cloud: 100 requests in 1.00 s")
    print(json.dumps({"rps": 100.0}))
    return 0


def test_a_benchmark_with_json_prints_only_its_summary_on_stdout(capsys, tmp_path):
    out_file = tmp_path / "bench.json"
    assert _json_summary(_a_bench)(_bench_args("--json", "--json-file", str(out_file))) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"rps": 100.0}
    assert "100 requests" in captured.err
    assert json.loads(out_file.read_text()) == {"rps": 100.0}


def test_a_benchmark_without_json_prints_text_and_its_json_line(capsys):
    assert _json_summary(_a_bench)(_bench_args()) == 0
    assert capsys.readouterr().out.splitlines()[-1] == '{"rps": 100.0}'


def test_a_benchmark_that_stops_early_keeps_its_status_and_prints_no_json(capsys):
    def fails(_args: argparse.Namespace) -> int:
        print("teddy bench cloud: wrk is not installed")
        return 2

    assert _json_summary(fails)(_bench_args("--json")) == 2
    assert capsys.readouterr().out == ""


def test_every_benchmark_takes_json():
    for name in ("cloud", "fleet", "crypto", "slow-clients", "retention", "egress", "photos"):
        with pytest.raises(SystemExit) as shown:
            main(["bench", name, "--json", "--help"])
        assert shown.value.code == 0


def test_verify_audit_json_says_intact_or_tampered_with_exit_0_or_1(tmp_path, capsys):
    db_path = str(tmp_path / "cloud.db")
    db = open_db(db_path)
    for i in range(3):
        audit.append(db, at=1_700_000_000.5 + i, actor=audit.subject_ref("parent", 1),
                     action="consent.grant", subject=audit.subject_ref("child", 1),
                     details={"purpose": "history", "notice_version": 1})
    db.close()
    assert main(["cloud", "verify-audit", "--db", db_path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "intact": True, "entries": 3, "first_bad_seq": None, "problem": None}
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("DROP TRIGGER audit_log_no_update")
    raw.execute("UPDATE audit_log SET action = 'consent.revoke' WHERE seq = 2")
    raw.close()
    assert main(["cloud", "verify-audit", "--db", db_path, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["intact"] is False and report["first_bad_seq"] == 2
