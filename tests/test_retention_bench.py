"""The retention benchmark runs end to end on a small database and reports honest figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cloud.retention.bench import register_bench


def test_small_bench_prints_one_json_line_with_the_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers(dest="bench", required=True))
    args = parser.parse_args(["retention", "--dir", str(tmp_path), "--expired-rows", "30000",
                              "--child-rows", "300", "--children", "200"])
    assert args.handler(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = json.loads(last)
    assert figures["purged_rows"] == 30000
    assert figures["erased_rows"] >= 300
    assert figures["purge_rows_per_s"] > 0 and figures["erase_child_s"] > 0
    assert figures["erase_proof_clean"] is True
    assert figures["canary_findings_after"] == 0
    # Every other child's key and sealed values were there for the key proof to try.
    assert figures["children"] == 201 and figures["key_copies_in_store"] == 0
    assert figures["key_proof_values_tried"] >= 200 * 5 and figures["key_proof_s"] > 0


def test_bench_refuses_nonsense_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers(dest="bench", required=True))
    args = parser.parse_args(["retention", "--expired-rows", "0"])
    assert args.handler(args) == 2
    args = parser.parse_args(["retention", "--children", "0"])
    assert args.handler(args) == 2
