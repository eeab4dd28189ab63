"""`teddy bench cloud` end to end on a tiny load: real servers, real signed requests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cloud.bench import register_bench


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.mark.slow("two gunicorn servers driven by wrk, then both apps timed in process")
def test_a_small_run_ends_with_one_json_line_of_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["cloud", "--toys", "2", "--seconds", "1", "--rounds", "1", "--warmup", "0",
                 "--in-process", "20", "--dir", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert code == 0
    assert summary["errors"] == 0 and summary["requests"] > 0
    for key in ("rps", "p50_ms", "p99_ms", "bare_rps"):
        assert summary[key] > 0, key
    assert summary["ratio"] == pytest.approx(summary["rps"] / summary["bare_rps"], abs=0.002)
    assert summary["p50_ms"] <= summary["p99_ms"]
    assert summary["app_us"] > 0 and summary["bare_app_us"] > 0
    assert summary["app_ratio"] == pytest.approx(
        summary["bare_app_us"] / summary["app_us"], abs=0.002)
    # The cloud really handled signed intents: each answered one left a history row. wrk stops
    # with at most one request per toy in flight, which the server may still have stored.
    import sqlite3

    db = sqlite3.connect(tmp_path / "bench-cloud.db")
    counted = db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0]
    assert summary["requests"] <= counted
    if not summary["replanned_rounds"]:  # a round run again left its requests stored too
        assert counted <= summary["requests"] + 2


@pytest.mark.parametrize("argv", [["--toys", "0"], ["--seconds", "0"], ["--warmup", "-1"],
                                  ["--in-process", "-1"]])
def test_bad_arguments_are_refused_before_anything_starts(
        tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["cloud", *argv, "--dir", str(tmp_path / "run")]) == 2
    assert "teddy bench cloud:" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_without_wrk_the_bench_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert _run(["cloud", "--dir", str(tmp_path / "run")]) == 2
    assert "apt-get install wrk" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_percentiles_and_merged_rounds_come_from_the_whole_latency_histogram() -> None:
    from cloud.bench.load import LoadResult

    first = LoadResult(100, 1.0, {1000: 98, 9000: 2}, {})
    second = LoadResult(100, 1.0, {2000: 99, 30000: 1}, {401: 1})
    both = first.merged(second)
    assert first.percentile_ms(50) == 1.0 and first.percentile_ms(99) == 9.0
    assert both.requests == 200 and both.rps == 100
    assert both.percentile_ms(50) == 2.0 and both.percentile_ms(99) == 9.0
    assert both.percentile_ms(100) == 30.0 and both.failures == {401: 1}


def test_a_toy_that_runs_out_of_signed_requests_is_an_error_not_a_replay(
        tmp_path: Path) -> None:
    from cloud.bench.load import LoadGeneratorError, drive
    from cloud.bench.servers import BenchServer
    from cloud.bench.toys import BenchToy, bare_requests

    toys = [BenchToy("toy-a", "unused"), BenchToy("toy-b", "unused")]
    with BenchServer("bare", tmp_path / "bare.db", 1, tmp_path / "bare.log") as server:
        server.spawn().wait_ready(timeout_s=20)
        with pytest.raises(LoadGeneratorError, match="ran out"):
            drive(server.port, [bare_requests(toy, 3) for toy in toys], seconds=1)


def test_a_round_that_runs_out_is_re_planned_from_the_rate_it_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import cloud.bench
    from cloud.bench.servers import BenchServer
    from cloud.bench.toys import BenchToy, bare_requests

    # A plan far below any server's speed: the first try must run out, the re-plan must not.
    monkeypatch.setattr(cloud.bench, "PLANNED_RPS_MIN", 1.0)
    toys = [BenchToy("toy-a", "unused"), BenchToy("toy-b", "unused")]
    with BenchServer("bare", tmp_path / "bare.db", 1, tmp_path / "bare.log") as server:
        server.spawn().wait_ready(timeout_s=60)
        result = cloud.bench._Target([server], bare_requests, toys).load(seconds=1)
    assert result.requests > 2 * (1 + 10) and not result.failures
    assert "answered faster than planned" in capsys.readouterr().err


def test_in_process_timing_counts_only_answered_requests(tmp_path: Path) -> None:
    from cloud.app import create_app
    from cloud.bench.in_process import InProcessError, measure_requests
    from cloud.bench.toys import BenchToy, signed_requests

    # A toy the cloud never paired: every request is refused, so there is nothing to time.
    app = create_app(db_path=str(tmp_path / "cloud.db"))
    with pytest.raises(InProcessError, match="3 in-process requests were refused: 401"):
        measure_requests(app, signed_requests(BenchToy("toy-unpaired", "secret"), 3))
