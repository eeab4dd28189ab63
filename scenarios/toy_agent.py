"""The toy as its own process, driven by JSON-line commands on stdin (one answer per line).

    python -m scenarios.toy_agent --state DIR --cloud URL [--clock-file F] [--ca-file CA]

Commands: {"command": "pair", "code": ...}, {"command": "say", "text": ...},
{"command": "hear", "clip": PATH}, {"command": "refresh_policy"}, {"command": "status"},
{"command": "quit"}. Every answer is one JSON object with "ok" true or false.

It builds the real EgressGate and Toy, so every byte it sends takes the toy's only route. The
speech model loads once, on first use, and stays loaded for the life of the process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cloud.clock import Clock
from device.audio.wav import load_wav_pcm16
from device.privacy.gate import EgressGate
from device.state import ToyState
from device.toy import Toy, ToyTurn

Answer = dict[str, Any]


def turn_to_json(turn: ToyTurn) -> Answer:
    data = asdict(turn)
    data["sent_body"] = turn.sent_body.decode("utf-8", "replace") if turn.sent_body else None
    data["dropped_slots"] = list(turn.dropped_slots)
    return data


class ToyAgent:
    """One toy: its state directory, its gate and its Toy. Variants override the hooks."""

    def __init__(self, state_dir: Path, cloud_url: str, ca_file: str | None = None,
                 clock_file: Path | None = None) -> None:
        self.state = ToyState(state_dir)
        self.cloud_url = cloud_url
        self.ca_file = ca_file
        # When a scenario moves the cloud N days ahead the toy's wall clock moves with it,
        # otherwise every signature would look stale.
        clock = Clock(str(clock_file) if clock_file else None)
        self.gate = EgressGate(self.state, clock=clock.time)
        self.toy = Toy(self.gate, locale="en")

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Answer]]:
        return {"pair": self.pair, "say": self.say, "hear": self.hear,
                "refresh_policy": self.refresh_policy, "status": self.status}

    def pair(self, args: dict[str, Any]) -> Answer:
        code = args.get("code")
        if not isinstance(code, str):
            raise ValueError("pair needs a text 'code'")
        device_id = self.gate.pair(self.cloud_url, code, self.ca_file)
        return {"device_id": device_id, **self._policy()}

    def say(self, args: dict[str, Any]) -> Answer:
        text = args.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("say needs a non-empty 'text'")
        return {"turn": turn_to_json(self.toy.say_text(text))}

    def hear(self, args: dict[str, Any]) -> Answer:
        clip = Path(str(args.get("clip", "")))
        if not clip.is_file():
            raise ValueError(f"no clip at {clip}")
        pcm = bytearray(load_wav_pcm16(clip))
        heard_bytes = len(pcm)
        turn = self.toy.hear(pcm)
        # The toy must have wiped the very buffer it was given (R02).
        return {"turn": turn_to_json(turn), "audio_bytes": heard_bytes,
                "buffer_bytes_after": len(pcm), "buffer_nonzero_after": any(pcm)}

    def refresh_policy(self, _args: dict[str, Any]) -> Answer:
        self.gate.refresh_policy()
        return self._policy()

    def status(self, _args: dict[str, Any]) -> Answer:
        return {"paired": self.gate.paired, "device_id": self.gate.device_id, **self._policy()}

    def _policy(self) -> Answer:
        return {"policy": self.gate.policy.to_json()}


def serve(agent: ToyAgent, lines: Any = None, out: Any = None) -> int:
    lines = lines if lines is not None else sys.stdin
    out = out if out is not None else sys.stdout
    handlers = agent.handlers()
    for line in lines:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("each command must be a JSON object")
            command = request.get("command")
            if command == "quit":
                print(json.dumps({"ok": True}), file=out, flush=True)
                return 0
            handler = handlers.get(str(command))
            if handler is None:
                raise ValueError(f"unknown command {command!r}; known: {sorted(handlers)}")
            answer: Answer = {"ok": True, **handler(request)}
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer, not a crash
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), file=out, flush=True)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, type=Path, help="the toy's state directory")
    parser.add_argument("--cloud", required=True, help="URL of the toy's route to the cloud")
    parser.add_argument("--clock-file", type=Path, help="the scenario's clock offset file")
    parser.add_argument("--ca-file", help="CA to pin when the cloud serves TLS")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None,
         agent_class: type[ToyAgent] = ToyAgent) -> int:
    args = parse_args(argv)
    return serve(agent_class(args.state, args.cloud, args.ca_file, args.clock_file))


if __name__ == "__main__":
    sys.exit(main())
