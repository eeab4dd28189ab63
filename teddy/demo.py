"""`teddy demo`: the whole story on one machine, over real HTTP, with the bytes on the wire shown.

A cloud starts on loopback with a temporary database; a parent signs up, adds a child and pairs
a toy; the child talks before consent (everything answered on the toy), the parent consents to
personalisation, the child shares a name and a favourite animal and gets a personalised story,
then says where they live (answered on the toy, nothing sent). Every byte the toy writes goes
through a recording relay, so the closing figures are measured, not claimed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audio_fixtures import demo_clips
from device.audio.wav import AudioInputError, load_wav_pcm16
from device.privacy.gate import EgressGate
from device.speaker import Speaker
from device.state import ToyState
from device.toy import Toy, ToyTurn
from scenarios.relay import Relay
from teddy.audio_check import find_audio_signatures
from teddy.cloud_process import CloudProcess

BYTES_PER_SECOND_RAW = 16000 * 2
PARENT_EMAIL = "parent@example.com"
PARENT_PASSWORD = "correct horse battery staple"

BEFORE_CONSENT = ["hello_teddy.wav", "joke.wav", "my_name_is_emma.wav"]
AFTER_CONSENT = ["hello_teddy.wav", "my_name_is_emma.wav", "favorite_animal_lion.wav",
                 "story_dinosaurs.wav", "i_live_at.wav", "goodbye.wav"]


@dataclass
class Tally:
    clips: int = 0
    audio_seconds: float = 0.0
    intent_requests: int = 0
    intent_body_bytes: int = 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = subparsers.add_parser(
        "demo", help="run the end-to-end privacy demo on loopback",
        description="Run the whole story on this machine: a cloud on loopback, a parent, a toy "
                    "hearing recorded clips, and the bytes on the wire measured.")
    demo.add_argument("--fixtures", type=Path, default=None,
                      help="folder with the demo clips (default: the clips installed with Teddy)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the temporary folder (cloud database, reply audio) and print "
                           "how to open the kept cloud as a parent")
    demo.add_argument("--replies-dir", type=Path,
                      help="write spoken replies here instead of playing them (default: play "
                           "them, or write them to the temporary folder when there is no "
                           "speaker)")
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.fixtures is None:
        args.fixtures = demo_clips()
    missing = [name for name in {*BEFORE_CONSENT, *AFTER_CONSENT}
               if not (args.fixtures / name).is_file()]
    if missing:
        print(f"teddy demo: missing clips in {args.fixtures}: {', '.join(sorted(missing))}",
              file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="teddy-demo-"))
    try:
        return _story(args, workdir)
    finally:
        if args.keep:
            _explain_kept(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _explain_kept(workdir: Path) -> None:
    print(f"\nKept {workdir}. To look at the kept cloud as the demo's parent:\n"
          f"  teddy cloud serve --db {workdir / 'cloud.db'}\n"
          f"  then open http://127.0.0.1:8080/parent/ and sign in as {PARENT_EMAIL} "
          f"with the password {PARENT_PASSWORD!r}\n"
          f"Remove the folder when done: rm -r {workdir}")


def _story(args: argparse.Namespace, workdir: Path) -> int:
    from scenarios.parent_client import ParentClient

    replies_dir = args.replies_dir or workdir / "replies"
    speaker = Speaker(out_dir=None if args.replies_dir is None else replies_dir)
    if not speaker.live:
        speaker.out_dir = replies_dir
        replies_dir.mkdir(parents=True, exist_ok=True)
        where = (str(replies_dir) if args.replies_dir or args.keep
                 else f"{replies_dir} (removed at the end; --keep keeps them)")
        print(f"No audio output found: replies are written as WAV files to {where}")

    with CloudProcess(workdir / "cloud.db") as cloud, Relay(cloud.host, cloud.port) as relay:
        _heading(f"Cloud running at {cloud.url} (gunicorn, SQLite at {cloud.db_path})")
        print(f"The toy reaches it only through a byte-recording relay at {relay.url}")

        parent = ParentClient(cloud.url, mail_db=str(cloud.db_path))
        parent.signup(PARENT_EMAIL, PARENT_PASSWORD)
        child_id = parent.add_child(first_name="", age_band="6-8", country="US")
        code = parent.pairing_code(child_id)
        print(f"A parent signs up, adds a child and gets pairing code {code}")

        gate = EgressGate(ToyState(workdir / "toy"))
        device_id = gate.pair(relay.url, code)
        toy = Toy(gate, locale="en")
        print(f"The toy pairs as {device_id}; its consent policy: "
              f"{sorted(gate.policy.purposes) or 'nothing consented (deny all)'}")
        tally = Tally()

        _heading("1. Before any consent: the toy plays on its own, sending nothing about the child")
        relay.reset_capture()
        for name in BEFORE_CONSENT:
            _play(toy, args.fixtures / name, speaker, tally)
        before = relay.captured_upstream()
        print(f"\nBytes the toy wrote to the network while playing: {len(before)}")

        _heading("2. The parent verifies by card and consents to core replies and personalisation")
        parent.verify_and_consent(child_id, method="card", purposes=["core", "personalisation"],
                                  card_number="4242 4242 4242 4242")
        gate.refresh_policy()
        print(f"The toy refreshes its policy: version {gate.policy.version}, "
              f"purposes {sorted(gate.policy.purposes)}")

        _heading("3. The child talks: only minimal intents leave, and replies are personalised")
        relay.reset_capture()
        for name in AFTER_CONSENT:
            _play(toy, args.fixtures / name, speaker, tally)
        after = relay.captured_upstream()

    _summary(tally, before, after)
    print("\nThe cloud has stopped; no process is left running.")
    return 0


def _play(toy: Toy, clip: Path, speaker: Speaker, tally: Tally) -> None:
    try:
        pcm = bytearray(load_wav_pcm16(clip))
    except AudioInputError as exc:
        raise SystemExit(f"teddy demo: {exc}") from exc
    tally.clips += 1
    tally.audio_seconds += len(pcm) / BYTES_PER_SECOND_RAW
    turn = toy.hear(pcm)
    _print_turn(clip.name, turn)
    if turn.sent_body is not None:
        tally.intent_requests += 1
        tally.intent_body_bytes += len(turn.sent_body)
    where = speaker.say(turn.reply, label=turn.intent)
    if where is not None:
        print(f"    reply audio   : {where}")


def _print_turn(name: str, turn: ToyTurn) -> None:
    print(f"\n  [{name}]")
    print(f"    heard         : {turn.heard!r}")
    print(f"    intent        : {turn.intent} {json.dumps(turn.slots)}")
    if turn.sent_body is None:
        print(f"    sent          : nothing ({turn.reason})")
    else:
        print(f"    sent          : {turn.sent_body.decode()} ({len(turn.sent_body)} bytes)")
        if turn.dropped_slots:
            print(f"    kept on toy   : {', '.join(turn.dropped_slots)}")
    label = "cloud, personalised" if turn.personalised else turn.answered_by
    print(f"    reply ({label}): {turn.reply}")


def _summary(tally: Tally, before: bytes, after: bytes) -> None:
    _heading("What crossed the network, measured at the relay")
    raw = tally.audio_seconds * BYTES_PER_SECOND_RAW
    print(f"  speech heard             : {tally.audio_seconds:.1f} s in {tally.clips} clips "
          f"({raw:,.0f} bytes if streamed raw at 16 kHz, 16-bit, as Hello Barbie did)")
    print(f"  before consent           : {len(before)} bytes on the wire (no intents)")
    if tally.intent_requests:
        mean = tally.intent_body_bytes / tally.intent_requests
        print(f"  intent request bodies    : {tally.intent_requests}, {mean:.0f} bytes on average "
              f"vs {BYTES_PER_SECOND_RAW:,} bytes per second of raw speech")
    print(f"  all bytes after consent  : {len(after):,} (HTTP headers and signatures included)")
    signatures = find_audio_signatures(before + after)
    print(f"  audio found on the wire  : {signatures or 'none'}")


def _heading(text: str) -> None:
    print(f"\n== {text}")
