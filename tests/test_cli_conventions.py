"""The command line as a user meets it: one JSON convention, help with defaults, --version,
clear one-line errors that say what to do, and a toy that installs without the cloud."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from teddy.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def teddy(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "teddy", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd,
                          timeout=timeout, check=False)


def _options(parser: argparse.ArgumentParser, path: str = "teddy"
             ) -> Iterator[tuple[str, argparse.Action, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _options(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action, parser


def test_every_option_of_every_command_has_help_that_shows_its_default():
    missing, no_default = [], []
    for path, action, parser in _options(build_parser()):
        name = f"{path} {'/'.join(action.option_strings) or action.dest}"
        if not action.help:
            missing.append(name)
        elif action.option_strings and not action.required:
            shown = parser._get_formatter()._get_help_string(action) or ""
            if "default" not in shown.lower():
                no_default.append(name)
    assert missing == [], f"options without help: {missing}"
    assert no_default == [], f"options whose help hides the default: {no_default}"


def test_json_is_a_switch_to_stdout_and_json_file_takes_the_path_everywhere():
    switches = [(path, action) for path, action, _ in _options(build_parser())
                if "--json" in action.option_strings]
    assert len(switches) >= 5
    assert all(action.nargs == 0 for _, action in switches), "--json never takes a path"
    files = {path for path, action, _ in _options(build_parser())
             if "--json-file" in action.option_strings}
    assert {"teddy scenarios run", "teddy device hear", "teddy device eval",
            "teddy device ledger"} <= files


def test_version_names_the_installed_distribution():
    from importlib import metadata

    result = teddy("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"teddy {metadata.version('teddy-privacy-testbed')}"


def test_scenarios_list_prints_json_to_stdout_only():
    result = teddy("scenarios", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert {"name", "title", "rules", "negative_control"} <= set(listed[0])


def test_cloud_serve_help_shows_the_lan_option_and_its_default():
    result = teddy("cloud", "serve", "--help")
    text = " ".join(result.stdout.split())
    assert "0.0.0.0" in text and "(default: 127.0.0.1)" in text


# --- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(("variable", "value"), [
    ("TEDDY_SESSION_COOKIE_SECURE", "ture"),
    ("TEDDY_CONSENT_AGES", "US=thirteen"),
    ("TEDDY_CONSENT_AGES", '{"US": 13'),
    ("TEDDY_CONSENT_AGES", "usa=13"),
    ("TEDDY_NOTICE_VERSION", "0"),
])
def test_a_bad_configuration_value_is_one_line_naming_the_variable(
        tmp_path, monkeypatch, capsys, variable, value):
    # In process: this tests the argument and configuration handling, not a server.
    monkeypatch.setenv(variable, value)
    assert main(["cloud", "serve", "--db", str(tmp_path / "c.db"), "--port", "0"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], captured.err
    assert captured.out == ""
    assert not (tmp_path / "c.db").exists(), "bad input changes nothing"


def test_good_configuration_values_are_read(tmp_path, monkeypatch):
    from cloud.config import CloudConfig

    monkeypatch.setenv("TEDDY_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("TEDDY_CONSENT_AGES", "US=13,DE=16")
    monkeypatch.setenv("TEDDY_TOY_DIR", str(tmp_path))  # another command's variable: ignored
    config = CloudConfig.from_sources(db_path=str(tmp_path / "c.db"))
    assert config.session_cookie_secure is True
    assert config.consent_ages == {"US": 13, "DE": 16}


def test_a_bad_value_in_the_yaml_file_names_the_file_and_key(tmp_path):
    from cloud.config import CloudConfig

    config_file = tmp_path / "cloud.yaml"
    config_file.write_text("consent_ages: {US: old}\n")
    with pytest.raises(ValueError, match=r"cloud.yaml: consent_ages"):
        CloudConfig.from_sources(str(config_file), db_path=str(tmp_path / "c.db"))


# --- the cloud tells you where it is ----------------------------------------------------------
def test_cloud_serve_prints_its_addresses_and_the_root_leads_to_the_parent_pages(tmp_path):
    import requests

    from teddy.cloud_process import CloudProcess

    with CloudProcess(tmp_path / "c.db") as cloud:
        home = requests.get(cloud.url + "/", timeout=5, allow_redirects=False)
        log = cloud.log_path.read_text()
    assert home.status_code in (301, 302, 303, 307, 308)
    assert home.headers["Location"].endswith("/parent/")
    assert f"{cloud.url}/parent/" in log
    assert f"{cloud.url}/api/v1/" in log


def test_a_busy_port_is_one_clear_line_and_exit_2(tmp_path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["cloud", "serve", "--db", str(tmp_path / "c.db"), "--port", str(port)])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        f"teddy cloud serve: port {port} on 127.0.0.1 is in use; "
        "stop whatever listens there or choose another with --port")


# --- extras: the toy without the cloud, the cloud without the toy -----------------------------
BLOCKED_RUN = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
from teddy.cli import main
sys.exit(main(sys.argv[2:]))
"""
CLOUD_ONLY = "flask,werkzeug,gunicorn,sqlite_utils,argon2,pydantic_settings"
TOY_ONLY = "vosk,pocketsphinx,sounddevice,numpy,tqdm"


def _without(modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, modules, *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_toy_without_the_cloud_stack_hears_and_its_cloud_commands_name_the_extra(tmp_path):
    clip = ROOT / "audio_fixtures" / "demo" / "hello_teddy.wav"
    heard = _without(CLOUD_ONLY, "device", "hear", "--json", str(clip))
    assert heard.returncode == 0, heard.stderr
    assert json.loads(heard.stdout)["intent"] == "greet"
    assert _without(CLOUD_ONLY, "--help").returncode == 0
    serve = _without(CLOUD_ONLY, "cloud", "serve", "--db", str(tmp_path / "c.db"))
    assert serve.returncode == 2
    assert "pip install 'teddy-privacy-testbed[cloud]'" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_a_cloud_without_the_speech_stack_names_the_device_extra(tmp_path):
    assert _without(TOY_ONLY, "cloud", "serve", "--help").returncode == 0
    hear = _without(TOY_ONLY, "device", "hear", "x.wav")
    assert hear.returncode == 2
    assert "pip install 'teddy-privacy-testbed[device]'" in hear.stderr
    assert "Traceback" not in hear.stderr


# --- demo clean-up ----------------------------------------------------------------------------
@pytest.mark.slow("runs the whole demo (tests/test_demo.py runs it in the fast tier)")
def test_demo_keep_says_how_to_open_the_kept_cloud_as_a_parent(tmp_path):
    from scenarios.parent_client import ParentClient
    from teddy.cloud_process import CloudProcess
    from teddy.demo import PARENT_EMAIL, PARENT_PASSWORD

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = teddy("demo", "--keep", env={"TMPDIR": str(scratch)}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (kept,) = [p for p in scratch.iterdir() if p.name.startswith("teddy-demo-")]
    assert f"teddy cloud serve --db {kept / 'cloud.db'}" in result.stdout
    assert "/parent/" in result.stdout and PARENT_EMAIL in result.stdout
    assert [p.name for p in scratch.iterdir() if p.name.startswith("teddy")] == [kept.name]
    # Following the printed instructions works: the parent signs in to the kept cloud.
    with CloudProcess(kept / "cloud.db") as cloud:
        parent = ParentClient(cloud.url)
        parent.login(PARENT_EMAIL, PARENT_PASSWORD)
        assert parent.get("/parent/").status_code == 200


# --- the unit_test check without a test suite -------------------------------------------------
def test_the_unit_test_check_is_not_applicable_without_the_test_suite(tmp_path):
    from scenarios.checks.unit import missing_test_suite

    node = "tests/test_audio_is_never_kept.py::test_the_clip_buffer_is_empty_after_the_toy_hears_it"
    assert missing_test_suite([node], ROOT) is None
    reason = missing_test_suite([node], tmp_path)
    assert reason is not None and "installed without the test suite" in reason


def test_not_applicable_never_reads_as_a_detected_violation():
    from scenarios.runner import CheckResult

    def result(expect: str) -> CheckResult:
        return CheckResult("s", "c", "t", "unit_test", ("R02",), expect, expect == "violation",
                           "not applicable", "no tests here", 0.0)

    assert result("hold").status == "not applicable"
    assert result("violation").status == "not applicable"


# --- the live toy on a terminal ---------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _screen(written: str) -> list[str]:
    """What a terminal shows: \\r returns to the line start, ESC[K erases to its end."""
    lines, row, col = [""], 0, 0
    i = 0
    while i < len(written):
        if written.startswith("\033[K", i):
            lines[row] = lines[row][:col]
            i += 3
            continue
        char = written[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
            lines.append("")
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1:]
            col += 1
        i += 1
    return lines


def test_notices_stay_on_screen_and_the_last_status_ends_the_line():
    from device.terminal import StatusLine

    terminal = FakeTerminal()
    status = StatusLine(terminal)
    status.notice("this toy is not paired")
    status.status("○ listening")
    status.status("● hearing…")
    status.notice("parent can review what was asked: no")
    status.status("○ listening")
    status.finish()
    written = terminal.getvalue()
    assert written.endswith("\n")
    screen = _screen(written)
    assert screen == ["this toy is not paired", "parent can review what was asked: no",
                      "○ listening", ""]


# --- errors that point to the fix -------------------------------------------------------------
def test_a_mistyped_ledger_state_folder_is_an_error_not_an_empty_ledger(tmp_path):
    result = teddy("device", "ledger", "--state", str(tmp_path / "no-such-toy"))
    assert result.returncode == 2
    assert "no-such-toy" in result.stderr and "sent nothing" not in result.stdout


def test_listening_on_every_interface_shows_and_certifies_the_lan_address(monkeypatch):
    import cloud.cli

    monkeypatch.setattr(cloud.cli, "_lan_address", lambda: "192.0.2.7")
    lines = "\n".join(cloud.cli.served_addresses("https", "0.0.0.0", 8443))
    assert "https://192.0.2.7:8443/parent/" in lines and "0.0.0.0:8443/parent" not in lines
    assert cloud.cli.certificate_host("0.0.0.0") == "192.0.2.7"
    assert cloud.cli.certificate_host("10.1.2.3") == "10.1.2.3"
