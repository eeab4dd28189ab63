"""One CLI convention, true everywhere (issue 27.8): every command that reports takes `--json`
and prints one JSON document (or JSON Lines, for the streams) of a fixed shape; bad input is
exit 2 with one line on stderr and nothing on stdout; a failed check is exit 1; a reader that
goes away (`| head -c 10`) ends the command quietly.

The walker below goes through the whole `teddy` parser, so a new command is held to this
without anyone remembering to add it: it either takes `--json` or is named in NOT_REPORTS
with the reason it prints no report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from teddy.cli import build_parser, main
from teddy.json_output import add_json_options

ROOT = Path(__file__).resolve().parent.parent

# The leaf commands that print no report, and why. Every other leaf must take --json.
NOT_REPORTS = {
    "teddy demo": "a narrated walk-through for a person; its figures are what "
                  "`teddy bench egress --json` reports",
    "teddy cloud serve": "a long-running server: it prints where to go, then the server's log",
    "teddy scenarios example-toy": "a toy process: stdin and stdout carry the toy agent's "
                                   "JSON-lines protocol",
    "teddy scenarios example-cloud": "becomes `teddy cloud serve`",
    "teddy scenarios example-cloud-mail": "becomes `teddy cloud mailbox`, whose text a "
                                          "--cloud-mail-command must print",
}

# Where each reporting command's JSON is run and its shape checked. Those marked HERE run
# below; the others are run by the named test file (they need a microphone stand-in, speech
# models, a running cloud or minutes of benchmark).
HERE = "tests/test_cli_json_everywhere.py"
JSON_CHECKED_IN = {
    "teddy device hear": "tests/test_hear_cli.py",
    "teddy device sentences": "tests/test_sentences_cli.py",
    "teddy device eval": "tests/test_eval_cli.py",
    "teddy device benchmark": "tests/test_eval_cli.py",
    "teddy device listen": "tests/test_toy_from_files.py",
    "teddy device pair": "tests/test_pairing_errors.py",
    "teddy device status": "tests/test_toy_status.py",
    "teddy device unpair": "tests/test_toy_status.py",
    "teddy device doctor": "tests/test_toy_doctor.py",
    "teddy device ledger": "tests/test_toy_cli.py",
    "teddy models download": "tests/test_models_download.py",
    "teddy cloud verify-audit": "tests/test_cli_json.py",
    "teddy cloud purge": HERE,
    "teddy cloud verify-erasure": HERE,
    "teddy cloud backup": HERE,
    "teddy cloud mailbox": HERE,
    "teddy scenarios run": "tests/test_scenarios.py",
    "teddy scenarios list": "tests/test_cli_conventions.py",
    "teddy scenarios rules": HERE,
    **dict.fromkeys([f"teddy bench {name}" for name in
                     ("cloud", "fleet", "crypto", "slow-clients", "retention", "egress",
                      "photos")],
                    "tests/test_cli_json.py"),
}


def leaf_commands(parser: argparse.ArgumentParser, path: str = "teddy"
                  ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command a user can run: the parsers with no sub-commands under them."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, child in group.choices.items():
            yield from leaf_commands(child, f"{path} {name}")


def takes_json(parser: argparse.ArgumentParser) -> bool:
    return any("--json" in a.option_strings and a.nargs == 0 for a in parser._actions)


def reporting_without_json(parser: argparse.ArgumentParser) -> list[str]:
    return [path for path, leaf in leaf_commands(parser)
            if path not in NOT_REPORTS and not takes_json(leaf)]


def test_every_command_that_reports_takes_json():
    parser = build_parser()
    leaves = dict(leaf_commands(parser))
    assert len(leaves) >= 25, sorted(leaves)
    assert reporting_without_json(parser) == []
    assert set(NOT_REPORTS) <= set(leaves), "NOT_REPORTS names a command that is gone"
    assert [p for p in NOT_REPORTS if takes_json(leaves[p])] == [], \
        "a command in NOT_REPORTS takes --json: take it off the list"


def test_the_walker_flags_a_reporting_command_without_json():
    # Negative control: a command added without --json, deep in a group, is caught.
    parser = build_parser()
    cloud = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                 ).choices["cloud"]
    cloud_commands = next(a for a in cloud._actions
                          if isinstance(a, argparse._SubParsersAction))
    cloud_commands.add_parser("report-something", help="a new report")
    with_json = cloud_commands.add_parser("report-properly", help="a new report")
    add_json_options(with_json, "the report")
    assert reporting_without_json(parser) == ["teddy cloud report-something"]


def test_every_reporting_command_has_its_json_checked_somewhere():
    reporting = {path for path, _ in leaf_commands(build_parser()) if path not in NOT_REPORTS}
    assert reporting == set(JSON_CHECKED_IN)
    for command, test_file in JSON_CHECKED_IN.items():
        source = (ROOT / test_file).read_text()
        assert '"--json"' in source, f"{test_file} never passes --json ({command})"
        last_word = command.split()[-1]
        assert f'"{last_word}"' in source, f"{test_file} never runs {command}"


# --- the commands this file runs --------------------------------------------------------------
@pytest.fixture
def cloud_db(tmp_path: Path) -> tuple[str, str]:
    """A cloud database with a consenting family that has talked, and one e-mail sent."""
    from retention_helpers import chatty_family

    from cloud.parent_web.outbox import email_parent

    app, db, family = chatty_family(tmp_path)
    email_parent(db, parent_id=family.parent_id, recipient="mum@example.org",
                 subject="Confirm your Teddy parent account", body="Open the link.",
                 now=time.time(), link="/parent/signup/confirm/abc")
    return app.config["TEDDY"].db_path, family.secret


def _json_of(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 0) -> object:
    assert main(argv) == status
    captured = capsys.readouterr()
    return json.loads(captured.out)  # the whole of stdout is one JSON document


PURGE_KEYS = {"rows", "total_rows", "children_erased", "receipts", "erasures_finished",
              "backups_deleted", "backups_rewritten", "vacuumed", "checkpoint_complete",
              "elapsed_s"}


def test_purge_json_and_text(cloud_db, capsys):
    db_path, _ = cloud_db
    report = _json_of(capsys, ["cloud", "purge", "--db", db_path, "--json"])
    assert set(report) == PURGE_KEYS
    assert isinstance(report["rows"], dict) and report["total_rows"] == 0
    assert main(["cloud", "purge", "--db", db_path]) == 0
    text = capsys.readouterr().out
    assert text.startswith("purged 0 rows (nothing was past its retention)"), text
    assert len(text.splitlines()) == 1


def test_verify_erasure_json_is_clean_exit_0_or_findings_exit_1(cloud_db, capsys):
    db_path, secret = cloud_db
    clean = _json_of(capsys, ["cloud", "verify-erasure", "--db", db_path,
                              "--canary", "nobody-has-this-name", "--json"])
    assert set(clean) == {"clean", "files_scanned", "bytes_scanned", "canaries", "findings"}
    assert clean["clean"] is True and clean["findings"] == [] and clean["canaries"] == 1
    assert db_path in clean["files_scanned"] and clean["bytes_scanned"] > 0
    # The toy's signing secret is in the database's raw bytes: a failed check, exit 1.
    found = _json_of(capsys, ["cloud", "verify-erasure", "--db", db_path,
                              "--canary", secret, "--json"], status=1)
    assert found["clean"] is False
    assert {"canary", "file", "offset"} == set(found["findings"][0])
    assert found["findings"][0]["canary"] == secret


def test_backup_json_names_the_file_it_wrote(cloud_db, capsys):
    db_path, _ = cloud_db
    report = _json_of(capsys, ["cloud", "backup", "--db", db_path, "--json"])
    assert set(report) == {"path", "bytes", "taken_at"}
    assert Path(report["path"]).stat().st_size == report["bytes"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", report["taken_at"])


def test_mailbox_json_lists_the_messages_with_whole_links(cloud_db, capsys):
    db_path, _ = cloud_db
    box = _json_of(capsys, ["cloud", "mailbox", "--db", db_path, "--to", "MUM@example.org",
                            "--base-url", "https://teddy.example", "--json"])
    assert set(box) == {"to", "messages"}
    (message,) = box["messages"]
    assert set(message) == {"delivered_at", "subject", "body", "link"}
    assert message["link"] == "https://teddy.example/parent/signup/confirm/abc"
    empty = _json_of(capsys, ["cloud", "mailbox", "--db", db_path, "--to", "x@example.org",
                              "--json"])
    assert empty == {"to": "x@example.org", "messages": []}


def test_rules_json_is_the_whole_rulebook(capsys):
    from scenarios.rules import rulebook

    book = _json_of(capsys, ["scenarios", "rules", "--json"])
    assert set(book) == {"revision", "rules"}
    assert [r["id"] for r in book["rules"]] == list(rulebook().rules)
    assert set(book["rules"][0]) == {"id", "group", "title", "text", "sources", "amended"}


# --- exit 2 for bad input, with nothing on stdout ---------------------------------------------
@pytest.mark.parametrize("argv", [
    ["cloud", "purge", "--db", "{missing}", "--json"],
    ["cloud", "verify-erasure", "--db", "{db}", "--canary", "ab", "--json"],
    ["cloud", "verify-erasure", "--db", "{missing}", "--canary", "abc", "--json"],
    ["cloud", "backup", "--db", "{missing}", "--json"],
    ["cloud", "backup", "--db", "postgresql://u@127.0.0.1/x", "--json"],
    ["cloud", "mailbox", "--db", "{missing}", "--to", "a@example.org", "--json"],
    ["scenarios", "rules", "--markdown", "--json"],
], ids=lambda argv: " ".join(argv[:2] + argv[-2:]))
def test_bad_input_is_exit_2_one_line_and_no_json(cloud_db, tmp_path, capsys, argv):
    db_path, _ = cloud_db
    argv = [a.format(db=db_path, missing=tmp_path / "missing.db") for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"teddy {argv[0]} "), captured.err


@pytest.mark.parametrize("argv", [
    ["cloud", "purge", "--json"], ["cloud", "verify-erasure", "--db", "x.db", "--json"],
    ["cloud", "backup", "--json", "--db"], ["cloud", "mailbox", "--db", "x.db", "--json"],
    ["scenarios", "rules", "--json", "extra"],
])
def test_a_usage_error_is_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().out == ""


# --- a reader that goes away ------------------------------------------------------------------
PIPED = [
    ["cloud", "purge", "--db", "{db}"],
    ["cloud", "verify-erasure", "--db", "{db}", "--canary", "nobody-has-this-name"],
    ["cloud", "backup", "--db", "{db}"],
    ["cloud", "mailbox", "--db", "{db}", "--to", "mum@example.org"],
    ["scenarios", "rules"],
]


@pytest.mark.slow("ten fresh interpreters, each importing its command group (about 8 s)")
@pytest.mark.parametrize("argv", PIPED, ids=lambda argv: " ".join(argv[:2]))
def test_json_into_a_closed_pipe_or_head_ends_quietly(cloud_db, argv):
    db_path, _ = cloud_db
    command = [sys.executable, "-m", "teddy", *[a.format(db=db_path) for a in argv], "--json"]
    # A pipe whose reader is gone before the command writes: the write must fail, every time.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        gone = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=60, check=False)
    finally:
        os.close(write_end)
    assert gone.stderr == "" and gone.returncode == 141
    # As a user types it.
    shell = " ".join(f"'{word}'" for word in command) + " | head -c 10"
    headed = subprocess.run(shell, shell=True, capture_output=True, text=True, timeout=60,
                            check=False)
    assert headed.returncode == 0 and len(headed.stdout) == 10
    assert "Traceback" not in headed.stderr and "Error" not in headed.stderr, headed.stderr
