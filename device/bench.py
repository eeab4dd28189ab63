"""`teddy bench egress`: bytes the toy sends per utterance, against streaming raw audio."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from device.audio.wav import load_wav_pcm16
from device.privacy.gate import EgressGate
from device.state import ToyState
from device.toy import Toy
from scenarios.relay import Relay
from teddy.audio_check import find_audio_signatures
from teddy.cloud_process import CloudProcess

FIXTURES = Path(__file__).resolve().parent.parent / "audio_fixtures"
RAW_BYTES_PER_SECOND = 16000 * 2


def register_bench(bench: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    egress = bench.add_parser("egress", help="request bytes per utterance vs raw audio")
    egress.add_argument("--fixtures", type=Path, default=FIXTURES,
                        help="folder with manifest.jsonl and its clips (a source checkout)")
    egress.add_argument("--limit", type=int, default=0, help="use at most N clips (0: all)")
    egress.set_defaults(handler=run)


def _clips(fixtures: Path, limit: int) -> list[Path]:
    manifest = fixtures / "manifest.jsonl"
    if not manifest.is_file():
        raise SystemExit(f"teddy bench egress: no manifest at {manifest}")
    clips = []
    for line in manifest.read_text("utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("locale", "en") == "en":
            clips.append(fixtures / entry["file"])
    return clips[:limit] if limit else clips


def run(args: argparse.Namespace) -> int:
    from cloud import consent, pairing
    from cloud.storage.db import open_db

    clips = _clips(args.fixtures, args.limit)
    with tempfile.TemporaryDirectory(prefix="teddy-bench-egress-") as work:
        workdir = Path(work)
        with CloudProcess(workdir / "cloud.db") as cloud, Relay(cloud.host, cloud.port) as relay:
            db = open_db(cloud.db_path)
            now = time.time()
            parent_id = db["parents"].insert(
                {"email": "bench@example.com", "password_hash": "-", "created_at": now}).last_pk
            child_id = db["children"].insert(
                {"parent_id": parent_id, "age_band": "6-8", "country": "US", "created_at": now,
                 "last_active_at": now}).last_pk
            for purpose in ("core", "personalisation", "history"):
                consent.grant(db, child_id=child_id, parent_id=parent_id, purpose=purpose,
                              notice_version=1, method="payment_card", now=now)
            code = pairing.issue_code(db, child_id, now)
            db.close()
            gate = EgressGate(ToyState(workdir / "toy"))
            gate.pair(relay.url, code)
            toy = Toy(gate)
            relay.reset_capture()
            audio_seconds = 0.0
            bodies: list[int] = []
            local = 0
            for clip in clips:
                pcm = bytearray(load_wav_pcm16(clip))
                audio_seconds += len(pcm) / RAW_BYTES_PER_SECOND
                turn = toy.hear(pcm)
                if turn.sent_body is None:
                    local += 1
                else:
                    bodies.append(len(turn.sent_body))
            wire = relay.captured_upstream()
    utterances = len(clips)
    mean_body = sum(bodies) / len(bodies) if bodies else 0.0
    raw_per_utterance = audio_seconds * RAW_BYTES_PER_SECOND / max(utterances, 1)
    wire_per_utterance = len(wire) / max(utterances, 1)
    audio_found = find_audio_signatures(wire)
    print(f"utterances                   : {utterances} ({local} answered on the toy)")
    print(f"speech                       : {audio_seconds:.1f} s")
    print(f"mean intent request body     : {mean_body:.0f} bytes (target <= 400)")
    print(f"raw streaming, per utterance : {raw_per_utterance:,.0f} bytes "
          f"({RAW_BYTES_PER_SECOND:,} bytes per second of speech)")
    print(f"all bytes on the wire        : {wire_per_utterance:,.0f} per utterance "
          "(HTTP headers and signatures included)")
    print(f"audio signatures on the wire : {audio_found or 'none'}")
    result = {
        "utterances": utterances,
        "sent": len(bodies),
        "mean_body_bytes": round(mean_body, 1),
        "raw_bytes_per_utterance": round(raw_per_utterance),
        "wire_bytes_per_utterance": round(wire_per_utterance),
        "body_reduction": round(raw_per_utterance / mean_body, 1) if mean_body else None,
        "wire_reduction": round(raw_per_utterance / wire_per_utterance, 1)
        if wire_per_utterance else None,
        "audio_bytes_on_wire": 0 if not audio_found else len(wire),
    }
    print(json.dumps(result))
    return 0 if not audio_found else 1
