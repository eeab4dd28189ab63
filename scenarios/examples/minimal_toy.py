"""A minimal toy for Teddy's scenario catalogue, written without importing any Teddy code.

It speaks the toy agent's JSON-lines protocol (docs/scenarios.md) on stdin/stdout and the
documented device API (signed HTTP) to whatever cloud URL it is given. It understands three
phrases by regular expression and keeps the child's name unless personalisation is allowed.

    teddy scenarios run --toy-command \
      "teddy scenarios example-toy --state {state} --cloud {cloud} --clock-file {clock_file}"
"""

import argparse
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

PHRASES = [(re.compile(r"\bmy name is ([a-z]+)"), "share_name", "child_name", "personalisation"),
           (re.compile(r"\b(hello|hi)\b"), "greet", None, "core"),
           (re.compile(r"\bjoke\b"), "tell_joke", None, "core")]


def _mac(secret: str, lines: list) -> str:
    return hmac.new(secret.encode(), "\n".join(lines).encode(), "sha256").hexdigest()


class MinimalToy:
    def __init__(self, state: Path, cloud: str, clock_file: str | None) -> None:
        self.state, self.cloud, self.clock_file = state, cloud.rstrip("/"), clock_file
        self.keys_file = state / "keys.json"
        self.policy = {"version": 0, "purposes": []}

    def now(self) -> int:
        offset = Path(self.clock_file).read_text().strip() if self.clock_file and \
            Path(self.clock_file).exists() else "0"
        return int(time.time() + float(offset or 0))

    def http(self, method: str, path: str, body: bytes = b"", sign: bool = True) -> tuple:
        content_type = "application/json" if body else ""
        headers = {"Content-Type": content_type} if body else {}
        if sign:
            keys = json.loads(self.keys_file.read_text())
            stamp, nonce = str(self.now()), secrets.token_hex(16)
            # The request's signed text (/api/openapi.json): path, query and content type too.
            mac = _mac(keys["secret"], ["teddy-request-v2", method, path, "", content_type,
                                        stamp, nonce, hashlib.sha256(body).hexdigest()])
            headers.update({"X-Teddy-Device": keys["device_id"], "X-Teddy-Timestamp": stamp,
                            "X-Teddy-Nonce": nonce, "X-Teddy-Signature": mac})
        request = urllib.request.Request(self.cloud + path, body or None, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw, signed = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, signed = error.code, error.read(), error.headers
        if sign:
            # Trust only what the cloud signed for this very request: a relay cannot widen
            # the consent policy or put words in the toy's mouth.
            expected = _mac(keys["secret"], ["teddy-reply-v1", str(status), nonce, stamp,
                                             hashlib.sha256(raw).hexdigest()])
            if not hmac.compare_digest(expected, signed.get("X-Teddy-Reply-Signature", "")):
                return status, {}
        return status, json.loads(raw or b"{}")

    def pair(self, code: str) -> dict:
        status, keys = self.http("POST", "/api/v1/pair", json.dumps({"code": code}).encode(),
                                 sign=False)
        if status != 201:
            raise ValueError(f"pairing refused ({status})")
        self.state.mkdir(parents=True, exist_ok=True)
        self.keys_file.write_text(json.dumps(keys))
        return {"device_id": keys["device_id"], **self.refresh_policy()}

    def refresh_policy(self) -> dict:
        if self.keys_file.exists():
            status, policy = self.http("GET", "/api/v1/policy")
            if status == 200:
                self.policy = policy
        return {"policy": self.policy}

    def say(self, text: str) -> dict:
        heard = text.lower().strip()
        found = next(((i, s, p, m) for rx, i, s, p in PHRASES if (m := rx.search(heard))), None)
        turn = {"heard": heard, "intent": "unknown", "slots": {}, "answered_by": "toy",
                "reason": "not understood", "sent_body": None, "reply": "Let's play!",
                "personalised": False, "dropped_slots": [], "status": None}
        if found is None:
            return {"turn": turn}
        intent, slot, purpose, match = found
        slots = {slot: match.group(1)} if slot else {}
        turn.update(intent=intent, slots=slots)
        if not self.keys_file.exists() or purpose not in self.policy["purposes"]:
            turn.update(reason="no consent: answered on the toy", dropped_slots=list(slots),
                        reply="Nice to meet you!" if slot else "Hello!")
            return {"turn": turn}
        keys = json.loads(self.keys_file.read_text())
        body = json.dumps({"message_id": uuid.uuid4().hex, "device_id": keys["device_id"],
                           "sent_at": self.now(), "locale": "en", "intent": intent,
                           "slots": slots, "policy_version": self.policy["version"]}).encode()
        status, answer = self.http("POST", "/api/v1/intent", body)
        self.policy = answer.get("policy", self.policy)
        turn.update(answered_by="cloud", reason="consented", sent_body=body.decode(),
                    status=status, reply=answer.get("reply", "Hello!"),
                    personalised=bool(answer.get("personalised")))
        return {"turn": turn}


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="teddy scenarios example-toy")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--cloud", required=True)
    parser.add_argument("--clock-file")
    args = parser.parse_args(argv)
    toy = MinimalToy(args.state, args.cloud, args.clock_file)
    for line in sys.stdin:
        try:
            command = json.loads(line)
            name = command.get("command")
            if name == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return 0
            if name == "pair":
                answer = toy.pair(command["code"])
            elif name == "say":
                answer = toy.say(command["text"])
            elif name == "refresh_policy":
                answer = toy.refresh_policy()
            elif name == "status":
                answer = {"paired": toy.keys_file.exists(), **toy.refresh_policy()}
            else:
                raise ValueError(f"unknown command {name!r}")
            print(json.dumps({"ok": True, **answer}), flush=True)
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
