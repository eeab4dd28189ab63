"""`teddy device doctor`: one line per check, exit 1 when any fails, `--json`.

Each check is shown passing on a toy that is ready and failing on one that is not: a closed
port, no pairing, a missing model, a microphone that does not exist, a clock that was never
set or is off from the cloud's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alsa_helpers import virtual_microphone
from cloud_helpers import fresh_pairing_code, pair_toy_with

from device.client.http import Credentials
from device.doctor import CLOCK_FLOOR, FAILED, OK, check_clock
from device.privacy.gate import CREDENTIALS_FILE
from device.state import ToyState
from teddy.cloud_process import CloudProcess, free_port
from teddy.contracts.signing import MAX_CLOCK_SKEW_S

QUICK = ("--engine", "pocketsphinx")


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "device", "doctor", *args],
                          capture_output=True, text=True, timeout=60, env=env)


def outcomes(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    report = json.loads(result.stdout)
    assert report["ok"] is (result.returncode == 0)
    return {check["name"]: check for check in report["checks"]}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(tmp_path_factory.mktemp("cloud") / "cloud.db") as server:
        yield server


@pytest.fixture
def paired(cloud: CloudProcess, tmp_path: Path) -> Path:
    return pair_toy_with(cloud, tmp_path / "toy")


def test_a_ready_toy_passes_every_check(cloud: CloudProcess, paired: Path):
    result = doctor("--state", str(paired), "--no-microphone", *QUICK)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["skipped"] + ["ok"] * 6
    assert lines[-1] == "the toy is ready"
    assert any(line.startswith("ok      cloud:") and f"{cloud.url} healthy" in line
               for line in lines)
    checks = outcomes(doctor("--state", str(paired), "--no-microphone", *QUICK, "--json"))
    assert checks["clock"]["detail"].startswith("within ")
    assert checks["speech model"]["detail"].startswith("pocketsphinx for en: ")
    # The health check is a request like any other: it is in the egress ledger.
    ledger = (paired / "egress-ledger.jsonl").read_text()
    assert '"path": "/healthz"' in ledger and '"purpose": "health-check"' in ledger


def test_a_cloud_that_is_not_there_fails_with_what_to_do(tmp_path: Path):
    state = ToyState(tmp_path / "toy")
    url = f"http://127.0.0.1:{free_port()}"
    state.write_json(CREDENTIALS_FILE, Credentials(url, "toy-" + "1" * 16, "2" * 64).__dict__)
    result = doctor("--state", str(state.directory), "--no-microphone", *QUICK, "--json")
    assert result.returncode == 1
    checks = outcomes(result)
    assert checks["pairing"]["outcome"] == OK
    assert checks["cloud"]["outcome"] == FAILED
    assert checks["cloud"]["detail"].startswith(f"{url}: nothing is listening on 127.0.0.1:")
    # Without the cloud's time the clock is only checked against the floor.
    assert checks["clock"]["outcome"] == OK and "not compared" in checks["clock"]["detail"]


def test_an_unpaired_toy_fails_pairing_and_skips_the_cloud(tmp_path: Path):
    result = doctor("--state", str(tmp_path / "toy"), "--no-microphone", *QUICK)
    assert result.returncode == 1
    assert "failed  pairing:      not paired" in result.stdout
    assert "skipped cloud:" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 of 7 checks failed"
    assert not (tmp_path / "toy").exists()


def test_a_missing_speech_model_fails(tmp_path: Path):
    checks = outcomes(doctor("--state", str(tmp_path / "toy"), "--no-microphone", "--engine",
                             "vosk", "--model", str(tmp_path / "nope"), "--json"))
    assert checks["speech model"]["outcome"] == FAILED
    assert "Vosk model directory not found" in checks["speech model"]["detail"]


def test_the_microphone_is_opened_and_read(tmp_path: Path):
    env = virtual_microphone(tmp_path, b"\x01\x00" * 32000)
    checks = outcomes(doctor("--state", str(tmp_path / "toy"), "--device", "teddyfile",
                             *QUICK, "--json", env=env))
    assert checks["microphone"]["outcome"] == OK, checks["microphone"]
    assert "opened and read 1.0 s at 16 kHz" in checks["microphone"]["detail"]


def test_a_microphone_that_is_not_there_fails(tmp_path: Path):
    env = virtual_microphone(tmp_path, b"\x00\x00" * 1600)
    checks = outcomes(doctor("--state", str(tmp_path / "toy"), "--device", "no-such-mic",
                             *QUICK, "--json", env=env))
    assert checks["microphone"]["outcome"] == FAILED
    assert "no input device 'no-such-mic'" in checks["microphone"]["detail"]


def test_clock_before_the_floor_or_off_from_the_cloud_fails():
    now = CLOCK_FLOOR + 86_400 * 300
    assert check_clock(now, now + 2).outcome == OK
    assert check_clock(now, None).outcome == OK
    unset = check_clock(0.0, None)  # a Raspberry Pi that booted without network time
    assert unset.outcome == FAILED and "1970-01-01" in unset.detail and "NTP" in unset.detail
    behind = check_clock(now, now + MAX_CLOCK_SKEW_S + 60)
    assert behind.outcome == FAILED and behind.detail.startswith("360 s behind the cloud's")
    assert check_clock(now, now - MAX_CLOCK_SKEW_S + 1).outcome == OK


def test_doctor_is_an_input_error_for_an_unknown_engine(tmp_path: Path):
    result = doctor("--engine", "whisper")
    assert result.returncode == 2 and "invalid choice" in result.stderr




def test_status_doctor_and_unpair_need_no_cloud_stack(tmp_path: Path):
    from test_cli_conventions import CLOUD_ONLY, _without

    state = str(tmp_path / "toy")
    checked = _without(CLOUD_ONLY, "device", "doctor", "--state", state, "--no-microphone",
                       *QUICK, "--json")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr
    assert outcomes(checked)["pairing"]["outcome"] == FAILED
    status = _without(CLOUD_ONLY, "device", "status", "--state", state, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["paired"] is False
    assert not (tmp_path / "toy").exists()  # neither made the state folder
    (tmp_path / "toy").mkdir()
    unpaired = _without(CLOUD_ONLY, "device", "unpair", "--state", state, "--yes")
    assert unpaired.returncode == 0 and unpaired.stdout.startswith("nothing to remove")


@pytest.mark.slow("starts a TLS cloud and makes a second CA: 3.4 s")
def test_a_tls_cloud_is_checked_under_the_pinned_ca(tmp_path: Path):
    import shutil

    from cloud_helpers import TlsCloudProcess

    from cloud.tls import ensure_server_certificate

    state = tmp_path / "toy"
    pinned = tmp_path / "ca.pem"
    with TlsCloudProcess(tmp_path / "cloud.db", tmp_path / "tls") as cloud:
        shutil.copy(cloud.ca_file, pinned)
        paired = subprocess.run(
            [sys.executable, "-m", "teddy", "device", "pair", "--cloud", cloud.url, "--code",
             fresh_pairing_code(str(tmp_path / "cloud.db")), "--ca", str(pinned),
             "--state", str(state)], capture_output=True, text=True, timeout=60)
        assert paired.returncode == 0, paired.stderr
        good = outcomes(doctor("--state", str(state), "--no-microphone", *QUICK, "--json"))
        assert good["cloud"]["outcome"] == OK, good["cloud"]
        # The control: another CA in the pinned file, as if the cloud's had been replaced.
        shutil.copy(ensure_server_certificate(tmp_path / "other").ca_cert, pinned)
        bad = outcomes(doctor("--state", str(state), "--no-microphone", *QUICK, "--json"))
    assert bad["cloud"]["outcome"] == FAILED
    assert bad["cloud"]["detail"] == (f"{cloud.url}: its TLS certificate is not signed by the "
                                      f"CA the toy was paired with ({pinned})")
    pinned.unlink()
    gone = outcomes(doctor("--state", str(state), "--no-microphone", *QUICK, "--json"))
    assert gone["cloud"]["detail"].startswith("the CA certificate the toy was paired with is "
                                              f"gone ({pinned})")
