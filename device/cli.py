"""`teddy device ...` and `teddy models ...` command groups.

Every handler returns the process exit code: 0 ok, 1 failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from device.asr.engine import EngineError
from device.audio.wav import AudioInputError, load_wav_pcm16
from device.locales import locale_profile
from device.nlu.listing import UNKNOWN_HINT
from device.nlu.matcher import UNKNOWN
from device.terminal import StatusLine
from teddy.json_output import JsonSink, add_json_options, wants_json

if TYPE_CHECKING:
    from device.listening import Message, Utterance, WakeGate
    from device.speech import Understander
    from device.state import ToyState
    from device.toy import Toy, ToyTurn

ENGINE_CHOICES = ["auto", "moonshine", "pocketsphinx", "vosk"]
ENGINE_HELP = ("speech recogniser (auto: Moonshine for en when installed, else "
               "PocketSphinx; Vosk for ko)")
LOCALE_CHOICES = ["en", "ko"]
STATUS = StatusLine()


def _error(message: str, command: str = "device") -> None:
    # The one style of every command's errors: "teddy <command>: <what to do>".
    print(f"teddy {command}: {message}", file=sys.stderr)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                        help=ENGINE_HELP)
    parser.add_argument("--model", metavar="DIR",
                        help="Vosk model directory (default: the installed model for the locale)")
    parser.add_argument("--locale", choices=LOCALE_CHOICES, default="en",
                        help="language the child speaks")


def _load_understander(args: argparse.Namespace):  # -> Understander | None
    from device.speech import Understander

    if STATUS.live:  # a model can take seconds to load; say so on a terminal only
        STATUS.status(f"loading the {args.locale} speech model…")
    try:
        return Understander(args.engine, args.locale, args.model)
    except EngineError as error:
        STATUS.clear()
        _error(str(error))
        return None
    finally:
        STATUS.clear()


# --- hear ----------------------------------------------------------------------


def _hear(args: argparse.Namespace) -> int:
    understander = _load_understander(args)
    if understander is None:
        return 2
    status = 0
    with JsonSink(args) as sink:
        status = _hear_files(args, understander, sink)
    return status


def _hear_files(args: argparse.Namespace, understander: Understander, sink: JsonSink) -> int:
    status = 0
    for name in args.files:
        try:
            pcm = load_wav_pcm16(name)
        except AudioInputError as error:
            _error(str(error))
            status = 2
            continue
        heard = understander.hear(pcm)
        row = {"file": name, **heard.as_dict(), "asr_ms": round(heard.asr_ms, 1)}
        sink.line(row)
        if not args.json:
            slots = " ".join(f"{k}={v}" for k, v in heard.slots.items())
            print(f"{name}: {heard.intent} {slots} ({heard.text!r}, {heard.engine}, "
                  f"{heard.asr_ms:.0f} ms)".replace("  ", " "), flush=True)
            if heard.intent == UNKNOWN:
                print(f"  hint: {UNKNOWN_HINT}", flush=True)
    return status


# --- sentences -----------------------------------------------------------------


def _sentences(args: argparse.Namespace) -> int:
    from device.nlu.listing import sentence_rows, template_lines
    from device.nlu.templates import TemplateError, load_templates

    try:
        templates = load_templates(args.locale)
    except TemplateError as error:
        _error(str(error))
        return 2
    if args.intent is not None and args.intent not in templates.intents:
        _error(f"unknown intent {args.intent!r}; the toy knows: "
               f"{', '.join(templates.intents)}")
        return 2
    rows = sentence_rows(templates, args.intent)
    with JsonSink(args) as sink:
        for row in rows:
            sink.line(row)
    if args.json:
        return 0
    if args.all:
        for row in rows:
            print(f"{row['intent']:<16}{row['text']}")
        return 0
    for line in template_lines(templates, args.intent):
        print(line)
    print(f"\n{len(rows)} sentences; `--all` lists every one, (a|b) is a choice, "
          "[x] is optional, {list} is a value from the lists.")
    return 0


# --- eval ----------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from device.audio.frontend import FrontEndSettings, dereverberate
    from device.speech import Understander
    from device.speech_eval import (
        ManifestError,
        gate,
        read_manifest,
        run_clips,
        score,
        session_order,
    )

    directory = Path(args.dir)
    try:
        clips = read_manifest(directory)
    except ManifestError as error:
        _error(str(error))
        return 2
    if args.locale:
        clips = [c for c in clips if c.locale == args.locale]
    if args.split:
        clips = [c for c in clips if c.split == args.split]
    if args.set:
        clips = [c for c in clips if c.fixture_set == args.set]
    if args.every > 1:
        clips = clips[:: args.every]
    clips = session_order(clips)
    frontend = FrontEndSettings(args.auto_gain, args.noise_suppression)
    progress = tqdm(total=len(clips), unit="clip", desc="eval", file=sys.stderr,
                    disable=args.quiet)
    outcomes = []
    loads: dict[str, float] = {}
    adaptations: dict[str, str] = {}
    for locale in sorted({c.locale for c in clips}):
        try:
            # --adapt and --vtln only mean something to PocketSphinx.
            engine = "pocketsphinx" if args.engine == "auto" and locale == "en" and (
                args.adapt or args.vtln) else args.engine
            understander = Understander(engine, locale, args.model, frontend, args.vtln,
                                        args.session_cmn == "on" if args.session_cmn else None,
                                        adaptation=args.adapt)
        except EngineError as error:
            _error(f"{locale}: {error}")
            return 2
        loads[f"{understander.engine.name}/{locale}"] = understander.load_seconds
        adaptation = getattr(understander.engine, "adaptation", None)
        if adaptation is not None:
            adaptations[f"{understander.engine.name}/{locale}"] = adaptation
        try:
            outcomes += run_clips(understander, [c for c in clips if c.locale == locale],
                                  progress=progress.update,
                                  prepare=dereverberate if args.dereverberate else None)
        except ManifestError as error:
            _error(str(error))
            return 2
    progress.close()
    groups = score(outcomes)
    gating = gate(outcomes)
    if args.plot:
        from device.speech_eval import accuracy_svg

        Path(args.plot).write_text(accuracy_svg(gating, args.split or "all"), "utf-8")
    JsonSink(args).document({"model_load_seconds": loads, "adaptation": adaptations,
                             "groups": [asdict(g) for g in groups],
                             "gating": [g.as_dict() for g in gating],
                             "clips": [o.as_row() for o in outcomes]})
    if args.json:
        return 0
    for name, seconds in loads.items():
        adapted = f" (acoustic adaptation: {adaptations[name]})" if name in adaptations else ""
        print(f"model load {name}: {seconds:.2f} s{adapted}")
    header = (f"{'engine':<13}{'locale':<7}{'condition':<10}{'voices':<9}{'clips':>6}"
              f"{'intent':>9}{'slots':>9}{'FA':>8}{'p50 ms':>9}{'p95 ms':>9}{'RTF':>7}")
    print(header)
    for g in groups:
        print(f"{g.engine:<13}{g.locale:<7}{g.condition:<10}{g.split:<9}{g.clips:>6}"
              f"{_fmt(g.intent_accuracy):>9}{_fmt(g.slot_accuracy):>9}"
              f"{_fmt(g.false_accept_rate):>8}{g.p50_ms:>9.1f}{g.p95_ms:>9.1f}"
              f"{g.real_time_factor:>7.3f}")
    if gating:
        print(f"\n{'gating (listener clips)':<42}{'split':<9}{'right':>6}{'wrong':>6}"
              f"{'rej':>5}{'ood rej':>8}{'ood acc':>8}{'command':>9}{'FA':>7}")
    for g in gating:
        print(f"{g.dimension + ': ' + g.value:<42}{g.split:<9}{g.accepted_right:>6}"
              f"{g.accepted_wrong:>6}{g.in_domain_rejected:>5}{g.ood_rejected:>8}"
              f"{g.ood_accepted:>8}{_fmt(g.command_acceptance):>9}"
              f"{_fmt(g.false_accept_rate):>7}")
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    import os

    from tqdm import tqdm

    from device.config import VARIABLES
    from device.speech import Understander
    from device.speech_benchmark import benchmark_clips, run_engine, table
    from device.speech_eval import ManifestError, read_manifest

    labels = [label.strip() for label in args.engines.split(",") if label.strip()]
    known = set(ENGINE_CHOICES) - {"auto"}
    bad = [label for label in labels if label.partition(":")[0] not in known]
    if bad or not labels:
        _error(f"unknown engine {', '.join(bad) or '(none)'}; use names from "
               f"{', '.join(sorted(known))}, with :ADAPTATION for pocketsphinx")
        return 2
    try:
        clips = benchmark_clips(read_manifest(Path(args.dir)))
    except ManifestError as error:
        _error(str(error))
        return 2
    if args.every > 1:
        clips = clips[:: args.every]
    os.environ[VARIABLES["ort_threads"]] = str(args.threads)  # RTF is quoted for one thread

    def make(engine: str, adaptation: str | None) -> Understander:
        return Understander(engine, "en", adaptation=adaptation)

    results = []
    for label in labels:
        progress = tqdm(total=len(clips), unit="clip", desc=label, file=sys.stderr,
                        disable=args.quiet)
        try:
            results += run_engine(label, clips, make, progress.update)
        except EngineError as error:
            progress.close()
            _error(f"{label}: {error}")
            return 2
        progress.close()
    JsonSink(args).document({"cells": [c.as_dict() for c in results]})
    if not args.json:
        print(table(results))
    return 0


# --- listen --------------------------------------------------------------------


def _live_toy(args: argparse.Namespace, understander: object) -> Toy:
    """The toy as it starts up: its state, the consent policy refreshed, what it will do."""
    from device.privacy.gate import EgressGate
    from device.state import ToyState
    from device.toy import Toy

    toy = Toy(EgressGate(ToyState(args.state)), locale=args.locale or "en",
              understander=understander)
    # Damaged state found on start-up is said before refresh_policy replaces the notice.
    shown = _show_gate_notice(toy.gate, None)
    toy.gate.refresh_policy()
    # What an earlier run sent without hearing back goes before anything new (device/outbox).
    toy.gate.ask_about_pending()
    if not toy.gate.paired:
        STATUS.notice("this toy is not paired: it answers on its own and sends nothing. Pair "
                      "it with: teddy device pair --cloud URL --code CODE")
    _show_gate_notice(toy.gate, shown)
    history = "history" in toy.gate.policy.purposes
    # R24: the child and parent can tell whether what is said is kept for review.
    STATUS.notice("parent can review what was asked: " + ("yes" if history else "no"))
    return toy


def _print_turn(turn: ToyTurn) -> None:
    sent = f"sent {len(turn.sent_body)} bytes" if turn.sent_body else "sent nothing"
    STATUS.clear()
    print(f"{turn.intent} -> {turn.reply}  [{turn.answered_by}; {sent}]", flush=True)


def _show_gate_notice(gate: object, shown: str | None) -> str | None:
    """Say once what the privacy gate found: unpaired by the cloud, child deleted, clock off."""
    notice = getattr(gate, "notice", None)
    if notice and notice != shown:
        STATUS.notice(f"toy: {notice}")
    return notice


def _indicator(text: str) -> None:
    STATUS.status(text)


def _listen(args: argparse.Namespace) -> int:
    """The live toy: every source (files, the microphone in each mode) runs through the one
    pipeline in device.listening, so every clip is heard by Toy.recognise and wiped there."""
    from device.audio.microphone import describe_input_devices, input_devices

    if args.list_devices:
        devices = input_devices()
        print("\n".join(d.describe() for d in devices) or describe_input_devices(devices))
        return 0
    if args.input:
        return _listen_to_files(args)
    if args.json_file:
        _error("--json-file is for --input (turns from files); from the microphone use --json")
        return 2
    try:
        args.device = _resolve_device(args.device)
    except AudioInputError as error:
        _error(str(error))
        return 2
    return _listen_to_microphone(args)


def _listen_to_microphone(args: argparse.Namespace) -> int:
    from device.listening import WakeGate, listen, microphone_utterances

    understander = _load_understander(args)
    if understander is None:
        return 2
    toy = _live_toy(args, understander)
    stop = threading.Event()
    if args.max_seconds:
        threading.Timer(args.max_seconds, stop.set).start()
    gate = WakeGate(args.mode, locale_profile(args.locale))
    if args.mode == "push-to-talk":
        utterances = _push_to_talk_utterances(args.device, stop)
    else:
        utterances = microphone_utterances(args.device, stop,
                                           on_speech=lambda: _indicator("● hearing…"))
    _show_listening(gate)
    try:
        with JsonSink(args) as sink:
            _play(args, toy, listen(toy, utterances, gate), gate, sink)
    except AudioInputError as error:
        _error(str(error))
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        STATUS.finish()
    return 0


def _listen_to_files(args: argparse.Namespace) -> int:
    """The microphone path with files for a microphone: each clip is one thing a child says,
    through the same pipeline and Toy (privacy gate, cloud or local reply) in the order given."""
    from device.listening import Utterance, listen

    if args.device or args.mode != "wake" or args.max_seconds:
        _error("--input replaces the microphone: --device, --mode and --max-seconds do not "
               "apply")
        return 2
    clips: list[Utterance] = []
    for name in args.input:  # every file is read before the toy says or sends anything
        try:
            clips.append(Utterance(name, bytearray(load_wav_pcm16(name))))
        except AudioInputError as error:
            _error(str(error))
            return 2
    understander = _load_understander(args)
    if understander is None:
        return 2
    toy = _live_toy(args, understander)
    with JsonSink(args) as sink:
        _play(args, toy, listen(toy, clips), None, sink)
    return 0


def _play(args: argparse.Namespace, toy: Toy, messages: Iterator[Message],
          gate: WakeGate | None, sink: JsonSink) -> None:
    """Show the pipeline's messages: turns as text or JSON (and to --json-file), the wake
    state on the status line, replies spoken where there is a speaker (not from files)."""
    from device.listening import Turn

    speaker = None
    if gate is not None and not args.json:
        from device.speaker import Speaker, audio_output_available

        if audio_output_available():
            speaker = Speaker(voice=locale_profile(args.locale or "en").voice)
    shown = toy.gate.notice
    for message in messages:
        if isinstance(message, Turn):
            sink.line(message.record())
            if not args.json:
                _print_turn(message.turn)
            shown = _show_gate_notice(toy.gate, shown)
            if speaker is not None:
                speaker.say(message.turn.reply)
        if gate is not None:
            _show_listening(gate)


def _show_listening(gate: WakeGate) -> None:
    if gate.mode == "push-to-talk":
        return
    if gate.armed and gate.mode == "wake":
        _indicator("● awake: listening for a request")
    elif gate.armed:
        _indicator("○ listening")
    else:
        _indicator(f"○ listening (say '{gate.profile.wake_phrase}')")


def _resolve_device(device: str | None) -> int | str:
    from device.audio.microphone import resolve_input_device

    return resolve_input_device(device)


def _push_to_talk_utterances(device: int | str, stop: threading.Event) -> Iterator[Utterance]:
    """What is said between two presses of Enter, one utterance per press."""
    from device.audio.microphone import capture_chunks
    from device.listening import Utterance

    while not stop.is_set():
        _indicator("press Enter to talk (Ctrl-D to quit)")
        if not sys.stdin.readline():
            return
        _indicator("● listening: press Enter when done")
        done = threading.Event()

        def wait_for_enter(event: threading.Event = done) -> None:
            sys.stdin.readline()
            event.set()

        threading.Thread(target=wait_for_enter, daemon=True).start()
        yield Utterance(None, bytearray().join(capture_chunks(device, stop=done)))


# --- pairing and the egress ledger ---------------------------------------------


def _add_state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", help="the toy's state folder (default: TEDDY_TOY_DIR or "
                        "~/.local/share/teddy/toy)")


def _pair(args: argparse.Namespace) -> int:
    from device.client.diagnosis import (
        ca_file_problem,
        certificate_refused,
        explain_unreachable,
    )
    from device.client.http import (
        CloudTlsUntrusted,
        CloudUnreachable,
        CloudUrlError,
        check_cloud_url,
    )
    from device.privacy.gate import EgressGate
    from device.state import StateError, ToyState
    from teddy.contracts.pairing_code import code_problem

    # Everything the user typed is checked before anything is sent: the code is single use.
    problem = code_problem(args.code)
    try:
        check_cloud_url(args.cloud, pairing=True)
    except CloudUrlError as error:
        problem = problem or str(error)
    if args.ca:
        problem = problem or ca_file_problem(args.ca)
    if problem:
        _error(problem)
        return 2
    gate = EgressGate(ToyState(args.state))
    if gate.notice:  # a damaged earlier pairing: this one replaces it
        print(f"note: {gate.notice}", file=sys.stderr)
    try:
        device_id = gate.pair(args.cloud, args.code, args.ca)
    except CloudUrlError as error:
        _error(str(error))
        return 2
    except CloudTlsUntrusted as error:
        reason, wrong_url = ("", False) if certificate_refused(error) else explain_unreachable(
            args.cloud)
        if wrong_url:
            _error(f"cannot pair with {args.cloud}: {reason}")
            return 2
        fix = (f"it is not signed by the CA in {args.ca}; copy the cloud's own ca.pem (`teddy "
               "cloud serve --tls` prints where it is)" if args.ca else
               "give the cloud's CA certificate with --ca PATH (`teddy cloud serve --tls` "
               "prints where it is)")
        _error(f"cannot verify the cloud's TLS certificate at {args.cloud}: {fix}")
        return 2
    except CloudUnreachable:
        reason, wrong_url = explain_unreachable(args.cloud)
        if wrong_url:
            _error(f"cannot pair with {args.cloud}: {reason}")
            return 2
        _error(f"cannot reach the cloud at {args.cloud}: {reason}")
        return 1
    except StateError as error:
        _error(str(error))
        return 1
    except PermissionError as error:
        _error(f"pairing refused: {error}")
        return 1
    JsonSink(args).document({"device_id": device_id, "cloud_url": args.cloud,
                             "purposes": sorted(gate.policy.purposes),
                             "policy_version": gate.policy.version, "notice": gate.notice})
    purposes = ", ".join(sorted(gate.policy.purposes)) or "nothing yet (the toy plays offline)"
    if not args.json:
        print(f"paired as {device_id}; consented purposes: {purposes}")
    if gate.notice:
        print(f"warning: {gate.notice}", file=sys.stderr)
    return 0


def _ledger(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from device.privacy.ledger import EgressLedger
    from device.state import ToyState

    if args.state and not Path(args.state).is_dir():
        _error(f"no toy state at {args.state}: no toy was ever paired there; check --state "
               "(the default is TEDDY_TOY_DIR or ~/.local/share/teddy/toy)")
        return 2
    reading = EgressLedger(ToyState(args.state)).read()
    entries = reading.entries
    if reading.damaged_lines:
        lines = ", ".join(map(str, reading.damaged_lines))
        print(f"note: skipped unreadable ledger line(s) {lines} (a write cut short by a crash "
              "or power loss; nothing after it is lost)", file=sys.stderr)
    if wants_json(args):
        with JsonSink(args) as sink:
            for entry in entries:
                sink.line(entry.__dict__)
        if args.json:
            return 0
    if not entries:
        print("This toy has sent nothing.")
        return 0
    total = sum(entry.body_bytes for entry in entries)
    print(f"{len(entries)} requests, {total} body bytes in all\n")
    for entry in entries:
        when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        status = entry.status if entry.status is not None else "unreachable"
        print(f"{when}  {entry.method:4} {entry.path:16} {entry.purpose:22} {status!s:>11}  "
              f"{entry.body_bytes:4} B  {entry.body}")
        if entry.outcome:
            print(f"{'':21}outcome: {entry.outcome}")
    return 0


# --- status, unpair, doctor ----------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from device.asr import choose_engine
    from device.state import ToyState
    from device.toy_status import describe_file, toy_status

    status = toy_status(ToyState(args.state))
    try:
        choice = choose_engine(args.engine, args.locale, args.model)
        status.engine = {"engine": choice.engine, "locale": args.locale,
                         "model": str(choice.model), "problem": None}
    except (EngineError, ModuleNotFoundError) as error:
        status.engine = {"engine": None, "locale": args.locale, "model": None,
                         "problem": str(error)}
    JsonSink(args).document(status.as_dict())
    if args.json:
        return 0
    if status.paired:
        print(f"paired:      yes, as {status.device_id} with {status.cloud_url}"
              + (f" (CA {status.ca_file})" if status.ca_file else ""))
        purposes = ", ".join(status.purposes) or "none yet (plays offline)"
        print(f"consent:     {purposes} (policy version {status.policy_version})")
    else:
        print("paired:      no (answers on its own and sends nothing; pair with "
              "`teddy device pair --cloud URL --code CODE`)")
    print(f"state:       {status.state_dir}"
          + ("" if Path(status.state_dir).is_dir() else " (not made yet)"))
    for kept in status.files:
        print(f"  {describe_file(kept)}")
    when = (datetime.fromtimestamp(status.last_sent_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            if status.last_sent_at else None)
    print(f"sent:        {status.requests_sent} requests" + (f", the last at {when}"
                                                          if when else "")
          + " (`teddy device ledger` lists them)")
    print(f"pending:     {status.pending_offline_messages} unanswered messages (sent without a "
          "definite answer; asked about on the next start, dropped after 9 minutes)")
    engine = status.engine
    print(f"speech:      {engine['engine']} for {engine['locale']}: {engine['model']}"
          if engine["engine"] else f"speech:      not ready: {engine['problem']}")
    if status.notice:
        print(f"note: {status.notice}", file=sys.stderr)
    return 0


def _unpair(args: argparse.Namespace) -> int:
    from device.state import ToyState
    from device.toy_status import describe_file, removable_files, toy_status, unpair

    state = ToyState(args.state)
    if args.state and not state.directory.is_dir():
        _error(f"no toy state at {args.state}: nothing to remove; check --state (the default "
               "is TEDDY_TOY_DIR or ~/.local/share/teddy/toy)")
        return 2
    status = toy_status(state)
    planned = removable_files(state)
    report: dict[str, object] = {"state_dir": str(state.directory), "was_paired": status.paired,
                                 "device_id": status.device_id, "cloud_url": status.cloud_url,
                                 "removed": []}
    if not planned:
        JsonSink(args).document(report)
        if not args.json:
            print(f"nothing to remove: this toy is not paired and keeps no data in "
                  f"{state.directory}")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            _error("unpair asks before it removes anything; add --yes to confirm without a "
                   "question (nothing was removed)")
            return 2
        print(f"This removes from {state.directory}:", file=sys.stderr)
        for kept in planned:
            print(f"  {describe_file(kept)}", file=sys.stderr)
        print("It cannot be undone. Remove them? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("nothing was removed", file=sys.stderr)
            return 1
    report["cloud"] = _tell_cloud_to_forget(state) if status.paired else None
    try:
        removed = unpair(state)
    except OSError as error:
        _error(f"could not remove everything in {state.directory} ({error.strerror or error}); "
               "run `teddy device unpair` again once that is fixed")
        return 1
    report["removed"] = [kept.__dict__ for kept in removed]
    JsonSink(args).document(report)
    if args.json:
        return 0
    for kept in removed:
        print(f"removed {describe_file(kept)}")
    cloud = report["cloud"]
    if isinstance(cloud, dict) and cloud["forgotten"]:
        print(f"unpaired: {status.device_id} no longer talks to {status.cloud_url} ("
              f"{cloud['said']}). What it sent about the child stays until a parent erases it "
              "on the parent page")
    elif isinstance(cloud, dict):
        print(f"unpaired here, but {cloud['said']}: the toy's key still works at "
              f"{status.cloud_url} until a parent removes the toy on the parent page")
    return 0


def _tell_cloud_to_forget(state: ToyState) -> dict[str, object]:
    """Best effort: the toy's own files go whatever the cloud says, and the words say which."""
    from device.client.http import CloudUnreachable
    from device.privacy.gate import EgressGate
    from device.privacy.ledger import LedgerUnavailable

    try:
        forgotten, said = EgressGate(state).unpair_from_cloud()
    except CloudUnreachable as error:
        forgotten, said = False, f"the cloud could not be told ({error})"
    except LedgerUnavailable as error:
        forgotten, said = False, f"the cloud was not told: {error}"
    return {"forgotten": forgotten, "said": said}


def _doctor(args: argparse.Namespace) -> int:
    from device.doctor import FAILED, DoctorSettings, run_checks
    from device.state import ToyState

    settings = DoctorSettings(ToyState(args.state), args.device, args.engine, args.locale,
                              args.model)
    checks = run_checks(settings, microphone=not args.no_microphone)
    failed = [check for check in checks if check.outcome == FAILED]
    JsonSink(args).document({"ok": not failed, "checks": [c.as_dict() for c in checks]})
    if not args.json:
        width = max(len(check.name) for check in checks) + 1
        for check in checks:
            print(f"{check.outcome:<8}{check.name + ':':<{width}} {check.detail}")
        print(f"{len(failed)} of {len(checks)} checks failed" if failed else
              "the toy is ready")
    return 1 if failed else 0


# --- models --------------------------------------------------------------------


def _models_download(args: argparse.Namespace) -> int:
    from device.asr.models import DownloadError, download_model
    from device.asr.moonshine_download import MOONSHINE_NAME, download_moonshine

    began = time.perf_counter()
    if args.name != MOONSHINE_NAME and args.wheel:
        _error("--wheel is only for en-moonshine")
        return 2
    if args.name == MOONSHINE_NAME and (args.url or args.sha256):
        _error("en-moonshine comes from PyPI with pinned checksums: --url and --sha256 "
               "do not apply (use --wheel FILE for a wheel you already have)")
        return 2
    try:
        if args.name == MOONSHINE_NAME:
            path = download_moonshine(Path(args.dir) if args.dir else None,
                                      Path(args.wheel) if args.wheel else None,
                                      quiet=args.quiet)
        else:
            path = download_model(
                args.name, url_base=args.url, sha256=args.sha256,
                target_dir=Path(args.dir) if args.dir else None,
                show_progress=not args.quiet,
            )
    except DownloadError as error:
        _error(str(error), command="models")
        return 1
    seconds = round(time.perf_counter() - began, 1)
    JsonSink(args).document({"model": args.name, "path": str(path), "seconds": seconds})
    if not args.json:
        print(f"{args.name}: ready in {path} ({seconds:.1f} s)")
    return 0


# --- registration --------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `device` command group."""
    device = subparsers.add_parser("device", help="the toy: hear, listen, pair, status, "
                                   "doctor, ledger, eval")
    commands = device.add_subparsers(dest="device_command", required=True)

    hear = commands.add_parser("hear", help="recognise WAV files as intents")
    hear.add_argument("files", nargs="+", metavar="FILE", help="16 kHz mono WAV files")
    add_json_options(hear, "one object per file, one per line,")
    _add_engine_options(hear)
    hear.set_defaults(handler=_hear)

    sentences = commands.add_parser("sentences", help="list what the toy understands")
    sentences.add_argument("--locale", choices=LOCALE_CHOICES, default="en",
                           help="language (default: en)")
    sentences.add_argument("--intent", help="only this intent")
    sentences.add_argument("--all", action="store_true",
                           help="every sentence written out, not the templates")
    add_json_options(sentences, "every sentence with its intent and slots, one per line,")
    sentences.set_defaults(handler=_sentences)

    evaluate = commands.add_parser("eval", help="score recognition on a fixture set")
    evaluate.add_argument("dir", metavar="DIR", help="directory with manifest.jsonl")
    evaluate.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                          help=ENGINE_HELP)
    evaluate.add_argument("--model", metavar="DIR",
                          help="Vosk model directory (default: the installed model)")
    evaluate.add_argument("--locale", choices=LOCALE_CHOICES,
                          help="only this locale (default: every locale in the manifest)")
    evaluate.add_argument("--every", type=int, default=1, help="use every Nth clip")
    evaluate.add_argument("--split", choices=["tune", "heldout"],
                          help="only this split (default: both)")
    evaluate.add_argument("--set", choices=["legacy", "listener", "flite"],
                          help="only this fixture set (default: both)")
    evaluate.add_argument("--vtln", choices=["off", "session", "utterance"],
                          help="vocal tract warp estimation (PocketSphinx; default off)")
    evaluate.add_argument("--adapt", metavar="NAME",
                          help="acoustic model adaptation for PocketSphinx: off or a shipped "
                               "name (device/asr/adaptation/NAME.json; default: "
                               "TEDDY_ADAPTATION, else the built-in default)")
    evaluate.add_argument("--session-cmn", choices=["on", "off"],
                          help="carry the cepstral mean through a session (default off)")
    evaluate.add_argument("--auto-gain", type=int, default=0, metavar="DBFS",
                          help="front-end automatic gain target, 0 = off")
    evaluate.add_argument("--noise-suppression", type=int, default=0, metavar="0-4",
                          help="front-end noise suppression level, 0 = off")
    evaluate.add_argument("--dereverberate", action="store_true",
                          help="WPE on each whole clip first (measurement only, not timed)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.add_argument("--plot", metavar="SVG", help="write accuracy vs SNR and RT60 here")
    add_json_options(evaluate, "the scores")
    evaluate.set_defaults(handler=_eval)

    benchmark = commands.add_parser(
        "benchmark", help="every engine side by side on the held-out clips, per synthesiser")
    benchmark.add_argument("dir", metavar="DIR", nargs="?", default="audio_fixtures",
                           help="directory with manifest.jsonl (default: audio_fixtures)")
    benchmark.add_argument("--engines", default="moonshine,pocketsphinx:off,"
                           "pocketsphinx:corpus-map",
                           help="comma-separated engines; pocketsphinx:NAME picks its "
                                "adaptation (default: %(default)s)")
    benchmark.add_argument("--every", type=int, default=1, help="use every Nth clip")
    benchmark.add_argument("--threads", type=int, default=1,
                           help="ONNX Runtime threads (default 1, as the RTF target)")
    benchmark.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_options(benchmark, "the cells")
    benchmark.set_defaults(handler=_benchmark)

    listen = commands.add_parser("listen", help="live toy from the microphone, or from WAV "
                                 "files with --input")
    listen.add_argument("--device",
                        help="input device number or name, see --list-devices (default: the "
                             "system's default microphone)")
    listen.add_argument("--list-devices", action="store_true",
                        help="list the input devices and exit")
    listen.add_argument("--mode", choices=["push-to-talk", "wake", "continuous"],
                        default="wake",
                        help="when to listen: after the wake phrase ('hey teddy'; Korean "
                             "'안녕 테디'), all the time (continuous), or from one press "
                             "of Enter to the next")
    listen.add_argument("--max-seconds", type=float,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    listen.add_argument("--input", nargs="+", metavar="FILE",
                        help="WAV files instead of the microphone: each is one thing the child "
                             "says, in order, through the whole toy (gate, cloud, reply)")
    listen.add_argument("--json", action="store_true",
                        help="one turn per line as JSON (heard, intent, reply, bytes sent), "
                             "the same record from the microphone and from --input files")
    listen.add_argument("--json-file", type=Path, metavar="PATH",
                        help="with --input: also write the turns as JSON Lines to this file")
    _add_state_option(listen)
    _add_engine_options(listen)
    listen.set_defaults(handler=_listen)

    pair = commands.add_parser("pair", help="pair this toy with a cloud using a parent's code")
    pair.add_argument("--cloud", required=True, help="cloud URL, e.g. https://127.0.0.1:8443")
    pair.add_argument("--code", required=True, help="the pairing code from the parent page")
    pair.add_argument("--ca", help="the cloud's CA certificate to pin (TLS)")
    add_json_options(pair, "the new pairing")
    _add_state_option(pair)
    pair.set_defaults(handler=_pair)

    status = commands.add_parser("status", help="paired or not, the cloud, what the toy "
                                 "keeps, the speech model it would use")
    add_json_options(status, "the status")
    _add_state_option(status)
    _add_engine_options(status)
    status.set_defaults(handler=_status)

    unpair = commands.add_parser("unpair", help="ask the cloud to forget this toy's key, then "
                                 "remove the pairing and the child's data on this toy")
    unpair.add_argument("--yes", action="store_true",
                        help="remove without asking (needed when not at a terminal)")
    add_json_options(unpair, "what was removed")
    _add_state_option(unpair)
    unpair.set_defaults(handler=_unpair)

    doctor = commands.add_parser("doctor", help="check the microphone, clock, pairing, cloud "
                                 "and speech model; exit 1 if any check fails")
    doctor.add_argument("--device", help="the microphone to check (default: the system's "
                        "default input)")
    doctor.add_argument("--no-microphone", action="store_true",
                        help="skip the microphone (a toy driven from files)")
    add_json_options(doctor, "every check")
    _add_state_option(doctor)
    _add_engine_options(doctor)
    doctor.set_defaults(handler=_doctor)

    ledger = commands.add_parser("ledger", help="show everything this toy has sent")
    add_json_options(ledger, "one object per request, one per line,")
    _add_state_option(ledger)
    ledger.set_defaults(handler=_ledger)


def register_models(subparsers: argparse._SubParsersAction) -> None:
    """Add the `models` command group."""
    from device.asr.models import CATALOGUE
    from device.asr.moonshine_download import MOONSHINE_NAME

    models = subparsers.add_parser("models", help="speech models for the toy")
    commands = models.add_subparsers(dest="models_command", required=True)
    download = commands.add_parser("download", help="download and verify a speech model")
    download.add_argument("name", choices=sorted([*CATALOGUE, MOONSHINE_NAME]),
                          help="which model (en-moonshine: Moonshine base English, "
                               "from the moonshine-cpp wheel on PyPI)")
    download.add_argument("--wheel", metavar="FILE",
                          help="en-moonshine: install from this moonshine-cpp wheel "
                               "instead of asking pip")
    download.add_argument("--url", help="URL base to download from (or TEDDY_MODELS_URL)")
    download.add_argument("--sha256", help="expected SHA-256 instead of the pinned one")
    download.add_argument("--dir", help="models directory (or TEDDY_MODELS_DIR)")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_options(download, "the model's name and where it is")
    download.set_defaults(handler=_models_download)
