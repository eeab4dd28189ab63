"""A toy process for tests/test_toy_outbox.py: started, and killed, as a real toy would be.

    python outbox_toy.py STATE_DIR tell INTENT [SLOT=VALUE ...]  send one intent
    python outbox_toy.py STATE_DIR start                         what the toy does on start
    python outbox_toy.py STATE_DIR start --stale-policy          ... before it asks for the policy

It prints one JSON line. `TEDDY_TOY_CLOCK_OFFSET_S` moves the toy's clock (a restart that
comes that much later). `TEDDY_OUTBOX_CONTROL` picks a negative control: "no-outbox" (a toy
that keeps nothing across a restart) or "new-message-id" (a toy that, on start, sends what it
sent without an answer again as a new message, with a fresh id).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

from device.privacy import gate as gate_module
from device.privacy import outbox
from device.privacy.gate import EgressGate
from device.state import ToyState


def _install_control(name: str) -> None:
    if name == "no-outbox":
        outbox.Outbox.add = lambda self, message: None  # type: ignore[method-assign]
    elif name == "new-message-id":

        def resend_as_new(gate: gate_module.EgressGate) -> int:
            assert gate._transport and gate._credentials
            for entry in gate.outbox.pending():
                sent = [e for e in gate.ledger.entries() if e.path == gate_module.INTENT_PATH
                        and entry.message_id in e.body]
                body = json.loads(sent[-1].body)
                body["message_id"] = uuid.uuid4().hex
                gate._send(gate._transport, "POST", gate_module.INTENT_PATH,
                           json.dumps(body, separators=(",", ":")).encode(), entry.purpose,
                           gate._credentials)
                gate.outbox.remove(entry.message_id)
            return 0

        gate_module.EgressGate.ask_about_pending = resend_as_new  # type: ignore[method-assign]
    elif name:
        raise SystemExit(f"unknown control {name!r}")


def main(argv: list[str]) -> None:
    _install_control(os.environ.get("TEDDY_OUTBOX_CONTROL", ""))
    offset = float(os.environ.get("TEDDY_TOY_CLOCK_OFFSET_S", "0"))
    gate = EgressGate(ToyState(argv[0]), clock=lambda: time.time() + offset)
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
        left = gate.ask_about_pending()
        print(json.dumps({"pending": left, "notice": gate.notice}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
