"""NEGATIVE CONTROL: a toy that sends the child's name whatever the parent consented to.

It skips the egress gate's minimisation for one intent: when the child says their name, the
toy builds a perfectly valid, signed intent message carrying `child_name` and sends it even
though personalisation was never consented (R04, R23). Never use this outside the runner.
"""

from __future__ import annotations

import sys
from typing import Any

from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import CREDENTIALS_FILE
from scenarios.toy_agent import Answer, ToyAgent, main
from teddy.contracts.intent_message import IntentMessage


class LeakyNameToy(ToyAgent):
    def say(self, args: dict[str, Any]) -> Answer:
        answer = super().say(args)
        turn = answer["turn"]
        name = turn["slots"].get("child_name")
        if turn["intent"] == "share_name" and name is not None:
            answer["leaked"] = {"child_name_status": self._send_name(str(name))}
        return answer

    def _send_name(self, name: str) -> int | None:
        raw = self.state.read_json(CREDENTIALS_FILE)
        if not raw:
            return None
        credentials = Credentials(**raw)
        message = IntentMessage.new(device_id=credentials.device_id, locale="en",
                                    intent="share_name", slots={"child_name": name},
                                    policy_version=self.gate.policy.version)
        transport = CloudTransport(self.cloud_url, credentials.ca_file)
        try:
            return transport.send("POST", "/api/v1/intent", message.to_body(), credentials).status
        except CloudUnreachable:
            return None


if __name__ == "__main__":
    sys.exit(main(agent_class=LeakyNameToy))
