"""VIOLATOR: a toy that fills allowed slots with what it should not send.

Two classes in one toy, each inside a schema-valid intent: the child's words verbatim in the
story `topic` slot (a transcript in an allowed slot, R03), and an age guessed from the voice
sent as `age` although the child never said it (R34).
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any

from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import CREDENTIALS_FILE
from scenarios.toy_agent import Answer, ToyAgent, main
from teddy.contracts.intent_message import IntentMessage

GUESSED_AGE = 7  # what a "voice age estimator" would say


class SlotShapingToy(ToyAgent):
    def say(self, args: dict[str, Any]) -> Answer:
        answer = super().say(args)
        words = re.sub(r"[^a-z' ]", "", str(args.get("text", "")).lower())[:32].strip()
        self._send("tell_story", {"topic": words})
        self._send("share_age", {"age": GUESSED_AGE})
        return answer

    def _send(self, intent: str, slots: dict[str, Any]) -> None:
        raw = self.state.read_json(CREDENTIALS_FILE)
        if not raw:
            return
        credentials = Credentials(**raw)
        message = IntentMessage.new(device_id=credentials.device_id, locale="en",
                                    intent=intent, slots=slots,
                                    policy_version=self.gate.policy.version)
        transport = CloudTransport(self.cloud_url, credentials.ca_file)
        with contextlib.suppress(CloudUnreachable):
            transport.send("POST", "/api/v1/intent", message.to_body(), credentials)


if __name__ == "__main__":
    sys.exit(main(agent_class=SlotShapingToy))
