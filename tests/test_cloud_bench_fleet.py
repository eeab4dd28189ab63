"""`teddy bench cloud --db/--app-servers` and `teddy bench fleet`: the plumbing, on tiny runs.

No timing is asserted: these check that the toys really reach every app server, that the
figures keep their shape, and that bad options are refused before anything starts.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from cloud.bench import register_bench
from cloud.bench.fleet import comparison_table
from cloud.bench.fleet import register_bench as register_fleet

TINY = ["--seconds", "1", "--rounds", "1", "--warmup", "0"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="bench_command", required=True)
    register_bench(sub)
    register_fleet(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))


def _device_ids(db_file: Path) -> set[str]:
    db = sqlite3.connect(db_file)
    try:
        return {json.loads(body)["device_id"]
                for (body,) in db.execute("SELECT body FROM bench_events")}
    finally:
        db.close()


def test_each_toy_talks_to_the_server_its_number_picks(tmp_path: Path) -> None:
    """Two bare servers with a database each: a toy's requests land only in its server's."""
    from cloud.bench.load import drive, server_port_of_toy
    from cloud.bench.servers import BenchServer
    from cloud.bench.toys import BenchToy, bare_requests

    toys = [BenchToy(f"toy-{n}", "unused") for n in range(4)]
    servers = [BenchServer("bare", tmp_path / f"bare-{n}.db", 1, tmp_path / f"bare-{n}.log")
               for n in range(2)]
    with servers[0], servers[1]:
        for server in servers:
            server.spawn()
        for server in servers:
            server.wait_ready(timeout_s=60)
        ports = [server.port for server in servers]
        result = drive(ports, [bare_requests(toy, 2000) for toy in toys], seconds=1)
    assert result.requests > 0 and not result.failures
    for n, server in enumerate(servers):
        expected = {toy.device_id for t, toy in enumerate(toys)
                    if server_port_of_toy(ports, t) == ports[n]}
        assert _device_ids(Path(server.db_path)) == expected
    assert expected == {"toy-1", "toy-3"}, "negative control: the rule does split the toys"


@pytest.mark.slow("starts three gunicorn servers and drives them with wrk")
def test_two_app_servers_on_one_sqlite_database_report_the_usual_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["cloud", "--toys", "4", *TINY, "--in-process", "0", "--app-servers", "2",
                 "--dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["errors"] == 0
    assert summary["db"] == "sqlite" and summary["app_servers"] == 2
    for key in ("rps", "p50_ms", "p99_ms", "bare_rps", "ratio"):
        assert summary[key] > 0, key
    assert "2 cloud server(s)" in out
    assert (tmp_path / "cloud-1.log").exists() and (tmp_path / "cloud-2.log").exists()
    db = sqlite3.connect(tmp_path / "bench-cloud.db")
    stored = db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0]
    assert summary["requests"] <= stored
    if not summary["replanned_rounds"]:  # a round run again left its requests stored too
        assert stored <= summary["requests"] + 4


@pytest.mark.slow("starts two gunicorn servers and drives them with wrk")
def test_a_given_sqlite_path_is_the_database_the_servers_share(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_file = tmp_path / "elsewhere.db"
    code = _run(["cloud", "--toys", "2", *TINY, "--in-process", "0",
                 "--db", f"sqlite:///{db_file}", "--dir", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    assert sqlite3.connect(db_file).execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 2
    assert not (tmp_path / "run" / "bench-cloud.db").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["cloud", "--app-servers", "0"], "--app-servers must be at least 1"),
    (["cloud", "--db", "mysql://localhost/teddy"], "--db: unsupported database"),
    (["fleet", "--toys", "8", "0"], "--toys must be at least 1"),
    (["fleet", "--postgres", "cloud.db"], "--postgres: expected a postgresql:// URL"),
])
def test_bad_options_are_refused_before_anything_starts(
        tmp_path: Path, argv: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([*argv, "--dir", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_comparison_puts_each_run_beside_sqlite_at_the_same_toys() -> None:
    runs = [{"setup": "SQLite, 1 app server", "db": "sqlite", "app_servers": 1, "toys": 8,
             "rps": 400.0, "p50_ms": 2.0, "p99_ms": 9.0, "ratio": 0.5},
            {"setup": "PostgreSQL, 2 app servers", "db": "postgresql", "app_servers": 2,
             "toys": 8, "rps": 600.0, "p50_ms": 3.0, "p99_ms": 12.5, "ratio": 0.25},
            {"setup": "PostgreSQL, 1 app server", "db": "postgresql", "app_servers": 1,
             "toys": 64, "rps": 100.0, "p50_ms": 3.0, "p99_ms": 12.5, "ratio": 0.125}]
    table = comparison_table(runs).splitlines()
    assert table[1].split()[-2:] == ["1.00x", "0.50"]
    assert table[2].split()[-2:] == ["1.50x", "0.25"]
    assert table[3].split()[-2] == "-", "no SQLite run at 64 toys to compare with"


@pytest.mark.slow("starts PostgreSQL and three gunicorn servers")
def test_two_app_servers_on_a_throwaway_postgresql_report_the_usual_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["cloud", "--toys", "2", *TINY, "--in-process", "0", "--db", "postgresql",
                 "--app-servers", "2", "--dir", str(tmp_path)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert code == 0, captured.err
    assert summary["db"] == "postgresql" and summary["app_servers"] == 2
    assert summary["errors"] == 0 and summary["requests"] > 0 and summary["rps"] > 0
    assert "postgresql (throwaway)" in captured.out
    assert not (tmp_path / "bench-cloud.db").exists(), "the cloud's data went to PostgreSQL"


@pytest.mark.slow("runs three bench set-ups, PostgreSQL included")
def test_the_fleet_comparison_runs_every_set_up(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["fleet", "--toys", "2", *TINY, "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    runs = json.loads(out.strip().splitlines()[-1])["fleet"]
    assert code == 0
    assert [(r["db"], r["app_servers"], r["toys"]) for r in runs] == [
        ("sqlite", 1, 2), ("postgresql", 1, 2), ("postgresql", 2, 2)]
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in runs)
    assert "PostgreSQL, 2 app servers" in out and "vs SQLite" in out
