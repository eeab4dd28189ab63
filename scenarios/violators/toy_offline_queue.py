"""VIOLATOR: a toy that keeps what it could not send offline and sends it when it is back.

"Never lose a message": every intent the toy could not deliver while the home network was
down goes into an outbox in its state folder, and is sent, as composed, the next time the
toy talks to its cloud. The toy asked for consent when it composed the message, not when it
sends it, so a name said offline leaves after the parent has withdrawn personalisation in
between (R12, R04). The cloud may refuse it; the bytes have left the home all the same.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import CREDENTIALS_FILE
from scenarios.toy_agent import Answer, ToyAgent, main

OUTBOX = "outbox.json"
UNREACHABLE = "cloud unreachable"


class OfflineQueueToy(ToyAgent):
    def say(self, args: dict[str, Any]) -> Answer:
        self._send_what_waits()
        answer = super().say(args)
        turn = answer["turn"]
        if turn["sent_body"] and str(turn["reason"]).startswith(UNREACHABLE):
            waiting = self._outbox()
            self.state.write_json(OUTBOX, {"bodies": [*waiting, turn["sent_body"]]})
        return answer

    def _outbox(self) -> list[str]:
        return list((self.state.read_json(OUTBOX) or {}).get("bodies", []))

    def _send_what_waits(self) -> None:
        waiting = self._outbox()
        raw = self.state.read_json(CREDENTIALS_FILE)
        if not waiting or not raw:
            return
        credentials = Credentials(**raw)
        transport = CloudTransport(self.cloud_url, credentials.ca_file, self.gate.clock)
        left = []
        for body in waiting:
            try:
                transport.send("POST", "/api/v1/intent", body.encode(), credentials)
            except CloudUnreachable:
                left.append(body)
        with contextlib.suppress(OSError):
            self.state.write_json(OUTBOX, {"bodies": left})


if __name__ == "__main__":
    sys.exit(main(agent_class=OfflineQueueToy))
