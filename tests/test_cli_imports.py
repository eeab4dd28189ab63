"""The command line is cheap to start: each command imports only its own group, `--help` and
`--version` import none, and a closed pipe ends a command quietly."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from teddy.cli import COMMAND_GROUPS, build_parser, chosen_command, main

# Run main() in a fresh interpreter, then list which heavy packages it imported.
IMPORTS_OF = """
import json, sys
from teddy.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {"flask", "numpy", "vosk", "pocketsphinx", "sounddevice", "sqlite_utils", "psycopg",
         "werkzeug", "gunicorn", "cloud", "device", "scenarios", "requests", "pydantic"}
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & heavy)),
      file=sys.stderr)
"""


def _imports_of(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", IMPORTS_OF, *args], capture_output=True,
                            text=True, timeout=60, check=False)
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_version_and_help_import_no_command_group():
    assert _imports_of("--version") == set()
    assert _imports_of("--help") == set()


def test_a_cloud_command_never_loads_the_speech_stack():
    loaded = _imports_of("cloud", "serve", "--help")
    assert "cloud" in loaded
    assert not loaded & {"vosk", "pocketsphinx", "sounddevice", "device", "scenarios"}


def test_a_toy_command_never_loads_the_web_stack():
    loaded = _imports_of("device", "hear", "--help")
    assert "device" in loaded
    assert not loaded & {"flask", "werkzeug", "gunicorn", "psycopg", "cloud"}


def test_the_listed_help_of_each_command_is_the_help_it_registers():
    sub = next(action for action in build_parser()._actions
               if isinstance(action, argparse._SubParsersAction))
    registered = {choice.dest: choice.help for choice in sub._choices_actions}
    assert registered == {group.command: group.help for group in COMMAND_GROUPS}


@pytest.mark.parametrize(("argv", "command"), [
    (["--version"], None), (["cloud", "serve"], "cloud"), (["-h", "device"], "device"),
    (["nonsense", "cloud"], None),
])
def test_the_chosen_command_is_the_first_word(argv, command):
    assert chosen_command(argv) == command


def test_an_unknown_command_is_a_usage_error_with_exit_2(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["no-such-command"])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_closed_pipe_ends_the_command_quietly():
    # A real pipe whose reader has gone, as with `teddy ... | head` once head has exited.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "teddy", "scenarios", "rules",
                                 "--markdown"], stdout=write_end, stderr=subprocess.PIPE,
                                text=True, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141


def test_piping_into_head_shows_the_first_line_and_no_traceback():
    result = subprocess.run(
        f"{sys.executable} -m teddy scenarios rules --markdown | head -n 1",
        shell=True, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr and "Error" not in result.stderr


def test_help_into_a_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "teddy", "--help"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(write_end)
    # argparse itself drops a help text it cannot write; nothing may reach stderr either way.
    assert result.stderr == ""
    assert result.returncode in (0, 141)


def test_a_cloud_process_cannot_be_started_twice(tmp_path):
    # Starting one twice orphaned the first server (8 of them after a full run).
    from teddy.cloud_process import CloudProcess

    cloud = CloudProcess(tmp_path / "c.db")
    cloud.process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            cloud.start()
        with cloud as entered:  # entering a started one keeps it, and stops it on the way out
            assert entered.process is not None and entered.running
    finally:
        cloud.stop()
    assert not cloud.running
