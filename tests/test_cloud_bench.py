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


def test_a_small_run_ends_with_one_json_line_of_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["cloud", "--toys", "2", "--requests", "60", "--rounds", "1", "--warmup", "4",
                 "--dir", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert code == 0
    assert summary["errors"] == 0 and summary["requests"] == 60
    for key in ("rps", "p50_ms", "p99_ms", "bare_rps"):
        assert summary[key] > 0, key
    assert summary["ratio"] == pytest.approx(summary["rps"] / summary["bare_rps"], abs=0.002)
    assert summary["p50_ms"] <= summary["p99_ms"]
    # The cloud really handled signed intents: every toy's child has history rows.
    import sqlite3

    db = sqlite3.connect(tmp_path / "bench-cloud.db")
    counted = db.execute("SELECT COUNT(*) FROM intent_events").fetchone()[0]
    assert counted == 60 + 4


@pytest.mark.parametrize("argv", [["--toys", "0"], ["--requests", "1", "--toys", "2"],
                                  ["--warmup", "-1"]])
def test_bad_arguments_are_refused_before_anything_starts(
        tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["cloud", *argv, "--dir", str(tmp_path / "run")]) == 2
    assert "teddy bench cloud:" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
