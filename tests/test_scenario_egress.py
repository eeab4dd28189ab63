# ruff: noqa: E501 - SYNTHETIC holds real strace lines, whose length is their own.
"""The egress observer, the checks on what it saw, and the run's coverage verdict.

Fast tests: a synthetic strace record, one real traced process, the randomness and derived-value
searches, and one real story (toy process, cloud under gunicorn) whose violator must be caught.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from scenarios import egress
from scenarios.checks.egress import find_derived, randomness_problems
from scenarios.model import CheckSpec
from scenarios.reports import rule_verdicts, run_status
from scenarios.runner import CATALOGUE, CheckResult, ScenarioResult, load_scenarios, run_scenario

# strace -yy -xx lines, as the observer writes them (long lines are the format's own).
SYNTHETIC = r'''101   connect(5<TCP:[777]>, {sa_family=AF_INET, sin_port=htons(8125), sin_addr=inet_addr("\x31\x32\x37\x2e\x30\x2e\x30\x2e\x31")}, 16) = 0
101   write(5<TCP:[127.0.0.1:40000->127.0.0.1:8125]>, "\x6e\x6f\x61\x68", 4) = 4
102   sendto(3<UDP:[888]>, "\x68\x69", 2, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("\x31\x32\x37\x2e\x30\x2e\x30\x2e\x35\x33")}, 16 <unfinished ...>
102   <... sendto resumed>) = 2
101   write(1<pipe:[9]>, "\x7b\x7d", 2) = 2
101   openat(AT_FDCWD</x>, "\x73\x69\x64\x65", O_WRONLY|O_CREAT|O_APPEND, 0666) = 7</tmp/side.db>
101   openat(AT_FDCWD</x>, "\x72", O_RDONLY|O_CLOEXEC) = 8</tmp/read-only>
'''


def test_the_trace_parser_finds_every_inet_send_and_written_file() -> None:
    trace = egress.parse_trace(SYNTHETIC)
    sends = [(s.call, s.destination, s.data) for s in trace.sends]
    assert ("connect", "127.0.0.1:8125", b"") in sends
    assert ("write", "127.0.0.1:8125", b"noah") in sends
    assert ("sendto", "127.0.0.53:53", b"hi") in sends
    assert len(sends) == 3  # the pipe write is not egress
    assert trace.written_files == {Path("/tmp/side.db")}


def test_a_real_process_cannot_send_past_the_observer(tmp_path: Path) -> None:
    if egress.unavailable():
        pytest.skip(egress.unavailable())
    record = tmp_path / "p.trace"
    script = ("import socket\nwith socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:\n"
              "    s.sendto(b'transcript: my name is noah', ('127.0.0.1', 8125))\n"
              f"open({str(tmp_path / 'kept.txt')!r}, 'w').write('x')\n")
    subprocess.run(egress.observed([sys.executable, "-c", script], record), check=True,
                   timeout=60)
    trace = egress.read_trace(record)
    assert any(s.destination == "127.0.0.1:8125" and b"noah" in s.data for s in trace.sends)
    assert tmp_path / "kept.txt" in trace.written_files


def test_random_ids_pass_and_ids_carrying_data_are_flagged() -> None:
    assert randomness_problems("message_id", [uuid.uuid4().hex for _ in range(40)],
                               frozenset({12, 16})) == []
    assert randomness_problems("nonce", [secrets.token_hex(16) for _ in range(40)]) == []
    # Pitch statistics in tenths of a hertz, as 16-bit hex, then random digits.
    leaky = [f"{2400 + i:04x}{2380 + i:04x}{1900:04x}{3100:04x}" + secrets.token_hex(8)
             for i in range(5)]
    assert randomness_problems("message_id", leaky, frozenset({12, 16}))


def test_derived_values_are_found_and_a_clean_file_passes(tmp_path: Path) -> None:
    kept = tmp_path / "side.jsonl"
    digest = hashlib.sha256(b"toy-1234abcd").hexdigest().upper()
    kept.write_text(f'{{"who": "{digest}"}}')
    clean = tmp_path / "clean.log"
    clean.write_text("GET /healthz 200\n")
    assert find_derived([kept, clean], ["toy-1234abcd"], plain=False) == [
        f"{kept}: sha256 of 'toy-1234abcd' (hex)"]
    assert find_derived([clean], ["toy-1234abcd", "scarlett"]) == []


def _check(status: str, negative: bool = False, evidence: str = "") -> CheckResult:
    return CheckResult("s", "c", "t", "turn", ("R07",), "hold", negative, status, evidence, 0.0)


def test_a_rule_the_interface_cannot_reach_makes_the_run_incomplete() -> None:
    scenario = load_scenarios([CATALOGUE / "05_revocation.yaml"])[0]
    blind = ScenarioResult(scenario, [_check(
        "not applicable", evidence="needs toy internals, which this black-box target does "
                                   "not give")])
    assert run_status([blind]) == "incomplete"
    verdict = next(v for v in rule_verdicts([blind]) if v.rule == "R07")
    assert verdict.coverage.startswith("not checkable through this interface")
    assert run_status([ScenarioResult(scenario, [_check("held")])]) == "pass"
    broken = ScenarioResult(scenario, [], error="starting the cloud: no such file",
                            harness_error=True)
    assert run_status([broken, ScenarioResult(scenario, [_check("violated")])]) == "error"


def test_a_cloud_command_that_cannot_start_is_one_error_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "teddy", "scenarios", "run",
                           "--cloud-command", "no-such-cloud-xyz --port {port}",
                           "--cloud-mail-command", "x {to}",
                           str(CATALOGUE / "05_revocation.yaml")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "ERROR" in done.stderr
    assert "no-such-cloud-xyz" in done.stderr


def test_a_missing_extra_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import scenarios.cli
    from teddy.cli import main

    monkeypatch.setattr(scenarios.cli, "NEEDED_MODULES", {"no_such_module_xyz": "a part"})
    assert main(["scenarios", "run"]) == 2
    said = capsys.readouterr().err.strip()
    assert "\n" not in said and "no_such_module_xyz" in said and "[all]" in said


def test_the_example_toy_ships_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "teddy", "scenarios", "example-toy",
                           "--state", str(tmp_path / "s"), "--cloud", "http://127.0.0.1:9"],
                          input='{"command": "status"}\n', capture_output=True, text=True,
                          timeout=60)
    assert '"ok": true' in done.stdout and '"paired": false' in done.stdout


def test_a_real_story_catches_a_toy_sending_elsewhere(tmp_path: Path) -> None:
    """A real toy process and a real cloud under gunicorn; the toy's analytics traffic past
    the relay must be seen, with its bytes, by the observer."""
    if egress.unavailable():
        pytest.skip(egress.unavailable())
    scenario = load_scenarios([CATALOGUE / "80_violator_toy_analytics.yaml"])[0]
    result = run_scenario(scenario)
    caught = {c.check_id: c for c in result.checks}
    assert result.error is None, result.error
    assert caught["toy-talks-elsewhere"].observed == "violated"
    assert "127.0.0.1:8125" in caught["toy-talks-elsewhere"].evidence
    assert "tell me a joke" in caught["toy-talks-elsewhere"].evidence
    assert caught["relay-sees-nothing-wrong"].observed == "held"
    assert isinstance(scenario.steps[-1], CheckSpec)
