"""A toy process for tests/test_toy_outbox.py: started, and killed, as a real toy would be.

    python outbox_toy.py STATE_DIR tell INTENT [SLOT=VALUE ...]  send one intent
    python outbox_toy.py STATE_DIR start                         what the toy does on start
    python outbox_toy.py STATE_DIR start --stale-policy          ... before it asks for the policy

It prints one JSON line. `TEDDY_OUTBOX_CONTROL` picks a negative control: "no-outbox" (a toy
that keeps nothing across a restart) or "new-message-id" (a toy that resends with a fresh id).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import replace

from device.privacy import outbox
from device.privacy.gate import EgressGate
from device.state import ToyState


def _install_control(name: str) -> None:
    if name == "no-outbox":
        outbox.Outbox.add = lambda self, message: None  # type: ignore[method-assign]
    elif name == "new-message-id":
        honest = outbox.Outbox.pending

        def renamed(self: outbox.Outbox) -> list[outbox.PendingMessage]:
            fresh = []
            for entry in honest(self):
                body = json.loads(entry.body)
                body["message_id"] = uuid.uuid4().hex
                fresh.append(replace(entry, body=json.dumps(body, separators=(",", ":"))))
            return fresh

        outbox.Outbox.pending = renamed  # type: ignore[method-assign]
    elif name:
        raise SystemExit(f"unknown control {name!r}")


def main(argv: list[str]) -> None:
    _install_control(os.environ.get("TEDDY_OUTBOX_CONTROL", ""))
    gate = EgressGate(ToyState(argv[0]))
    if argv[1] == "tell":
        slots: dict[str, str | int] = {}
        for pair in argv[3:]:
            name, value = pair.split("=", 1)
            slots[name] = int(value) if value.isdigit() else value
        decision = gate.decide(argv[2], slots, "en")
        assert decision.message is not None, decision.reason
        print(json.dumps({"message_id": decision.message.message_id}), flush=True)
        delivery = gate.deliver(decision.message)
        print(json.dumps({"status": delivery.status, "reply": delivery.reply}), flush=True)
    elif argv[1] == "start":
        if "--stale-policy" not in argv:
            gate.refresh_policy()
        left = gate.resend_pending()
        print(json.dumps({"pending": left, "notice": gate.notice}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
