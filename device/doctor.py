"""`teddy device doctor`: is this toy ready? One check per line, each saying what to fix.

The checks look, they do not change anything: the microphone is opened and read for a moment
(nothing kept), the clock is compared with a floor and with the cloud's, the pairing
credential is read, the cloud's /healthz is asked (an empty GET, written in the egress ledger
first like every request the toy makes), and the speech model is found on disk.
"""

from __future__ import annotations

import calendar
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from device.state import ToyState
from teddy.contracts.signing import MAX_CLOCK_SKEW_S

if TYPE_CHECKING:
    from device.privacy.gate import EgressGate

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
HEALTH_TIMEOUT_S = 2.0
MICROPHONE_SECONDS = 1.0
# No toy runs before this release was written; a clock before it was never set (a
# Raspberry Pi has no clock chip and starts from 1970 or the last shutdown's time).
CLOCK_FLOOR = float(calendar.timegm((2026, 1, 1, 0, 0, 0)))


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str  # ok, failed or skipped
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class DoctorSettings:
    state: ToyState
    device: str | None = None  # the microphone; None for the default
    engine: str = "auto"
    locale: str = "en"
    model: str | None = None


def check_microphone(settings: DoctorSettings) -> Check:
    try:
        from device.audio.microphone import capture_chunks, resolve_input_device
        from device.audio.wav import AudioInputError
    except OSError as error:  # sounddevice without the PortAudio library
        return Check("microphone", FAILED, f"PortAudio is missing ({error}): install "
                     "libportaudio2 (apt-get install libportaudio2)")
    try:
        device = resolve_input_device(settings.device)
        stop = threading.Event()
        timer = threading.Timer(MICROPHONE_SECONDS + 1, stop.set)
        timer.start()
        try:
            samples = sum(len(chunk) // 2 for chunk in capture_chunks(
                device, max_samples=int(16_000 * MICROPHONE_SECONDS), stop=stop))
        finally:
            timer.cancel()
    except AudioInputError as error:
        return Check("microphone", FAILED, str(error))
    if samples == 0:
        return Check("microphone", FAILED, f"input device {device!r} opened but gave no sound "
                     f"within {MICROPHONE_SECONDS + 1:g} s; check it with `arecord -l`")
    return Check("microphone", OK, f"input device {device!r} opened and read "
                 f"{samples / 16_000:.1f} s at 16 kHz")


def check_clock(now: float, cloud_time: float | None) -> Check:
    if now < CLOCK_FLOOR:
        shown = time.strftime("%Y-%m-%d %H:%M", time.gmtime(now))
        return Check("clock", FAILED, f"the clock says {shown} UTC, before this toy's software "
                     "was written: turn on network time (NTP; timedatectl set-ntp true)")
    if cloud_time is None:
        return Check("clock", OK, "after " + time.strftime("%Y-%m-%d", time.gmtime(CLOCK_FLOOR))
                     + " (not compared with the cloud's: it did not answer)")
    skew = now - cloud_time
    if abs(skew) > MAX_CLOCK_SKEW_S:
        direction = "ahead of" if skew > 0 else "behind"
        return Check("clock", FAILED, f"{abs(skew):.0f} s {direction} the cloud's; the cloud "
                     f"refuses requests more than {MAX_CLOCK_SKEW_S} s off: turn on network "
                     "time (NTP)")
    return Check("clock", OK, f"within {max(1, round(abs(skew)))} s of the cloud's")


def check_pairing(settings: DoctorSettings) -> tuple[Check, EgressGate | None]:
    from device.privacy.gate import EgressGate

    gate = EgressGate(settings.state)
    if gate.paired:
        return Check("pairing", OK, f"paired as {gate.device_id} with {gate.cloud_url}"), gate
    if gate.notice:
        return Check("pairing", FAILED, gate.notice), None
    return Check("pairing", FAILED, "not paired (it plays offline and sends nothing): pair "
                 "with `teddy device pair --cloud URL --code CODE`"), None


def check_cloud(state: ToyState, gate: EgressGate | None) -> tuple[Check, float | None]:
    """GET /healthz on the paired cloud; also the cloud's time, from its Date header."""
    if gate is None:
        return Check("cloud", SKIPPED, "not paired, so no cloud to reach"), None
    import requests

    from device.client.diagnosis import certificate_refused, explain_unreachable

    url, ca_file = gate.cloud_url or "", gate.ca_file
    if ca_file and not Path(ca_file).is_file():
        return Check("cloud", FAILED, f"the CA certificate the toy was paired with is gone "
                     f"({ca_file}): copy the cloud's ca.pem back there"), None
    from device.privacy.ledger import EgressLedger, LedgerEntry, LedgerUnavailable

    ledger = EgressLedger(state)
    entry = LedgerEntry(at=time.time(), method="GET", path="/healthz", purpose="health-check",
                        body_bytes=0, body="", status=None)
    try:
        ledger.record_request(entry)
    except LedgerUnavailable as error:
        return Check("cloud", FAILED, str(error)), None
    session = requests.Session()
    session.trust_env = False
    try:
        began = time.perf_counter()
        response = session.get(url.rstrip("/") + "/healthz", timeout=HEALTH_TIMEOUT_S,
                               verify=ca_file or True, allow_redirects=False)
        elapsed_ms = (time.perf_counter() - began) * 1000
        with contextlib.suppress(LedgerUnavailable):
            ledger.record_outcome(entry.request_id, response.status_code)
    except requests.exceptions.SSLError as error:
        reason, wrong_url = ("", False) if certificate_refused(error) else explain_unreachable(
            url, HEALTH_TIMEOUT_S)
        if not wrong_url:
            reason = (f"its TLS certificate is not signed by the CA the toy was paired with "
                      f"({ca_file or 'none given'})")
        return Check("cloud", FAILED, f"{url}: {reason}"), None
    except requests.RequestException:
        reason, _ = explain_unreachable(url, HEALTH_TIMEOUT_S)
        return Check("cloud", FAILED, f"{url}: {reason}"), None
    finally:
        session.close()
    cloud_time = _date_header(response.headers.get("Date"))
    if response.status_code != 200:
        return Check("cloud", FAILED, f"{url}/healthz answered {response.status_code}: the "
                     "cloud is up but not healthy (its log says why)"), cloud_time
    return Check("cloud", OK, f"{url} healthy ({elapsed_ms:.0f} ms)"), cloud_time


def _date_header(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def check_speech_model(settings: DoctorSettings) -> Check:
    from device.asr import EngineError, choose_engine

    try:
        choice = choose_engine(settings.engine, settings.locale, settings.model)
    except EngineError as error:
        return Check("speech model", FAILED, str(error))
    except ModuleNotFoundError as error:
        return Check("speech model", FAILED, f"{error.name} is not installed: pip install "
                     "'teddy-privacy-testbed[device]'")
    guard = " (with Moonshine English to refuse English speech)" if choice.english_guard \
        else ""
    return Check("speech model", OK, f"{choice.engine} for {settings.locale}: "
                 f"{choice.model}{guard}")


def check_state_folder(state: ToyState) -> Check:
    folder = state.directory
    if not folder.exists():
        return Check("state folder", OK, f"{folder} (made on pairing)")
    if not folder.is_dir():
        return Check("state folder", FAILED, f"{folder} is not a folder: move it away or "
                     "choose another with --state")
    import os

    if not os.access(folder, os.W_OK | os.X_OK):
        return Check("state folder", FAILED, f"{folder} is not writable by this user: the "
                     "toy could not keep its ledger, so it would send nothing")
    mode = folder.stat().st_mode & 0o777
    note = "" if mode == 0o700 else f" (mode {mode:o}; the toy makes it 700 on its next write)"
    return Check("state folder", OK, f"{folder} writable{note}")


def run_checks(settings: DoctorSettings, clock: Callable[[], float] = time.time,
               microphone: bool = True) -> list[Check]:
    checks = [check_microphone(settings) if microphone else
              Check("microphone", SKIPPED, "--no-microphone")]
    pairing, gate = check_pairing(settings)
    cloud, cloud_time = check_cloud(settings.state, gate)
    checks += [check_clock(clock(), cloud_time), check_state_folder(settings.state), pairing,
               cloud, check_speech_model(settings), check_installation()]
    return checks


def check_installation(path: list[str] | None = None) -> Check:
    """Every installed file of ours is as pip wrote it, and no other distribution ships one of
    our top-level packages (`teddy` is also an unrelated project on PyPI)."""
    from teddy.installation import DISTRIBUTION, installation_problems, our_distribution

    problems = installation_problems(path, every_file=True)
    if problems:
        return Check("installation", FAILED, "; ".join(problems))
    ours = our_distribution(path)
    where = (f"{DISTRIBUTION} {ours.version}, its files as installed" if ours is not None
             else "run from a source tree, not installed")
    return Check("installation", OK, f"{where}; no other distribution shares its top-level "
                                     "packages")
