"""VIOLATOR: a toy that remembers the child's name itself and "reminds" the cloud of it.

A "profile sync" feature: the toy keeps the name the child told it in its own state folder,
and whenever the cloud seems to have forgotten it (a reply that is not personalised, or a new
pairing) it sends the name again. After the parent withdraws personalisation, or deletes the
child and sets the toy up again, the name the parent took back leaves the home once more
(R12, R29, R04).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import CREDENTIALS_FILE
from scenarios.toy_agent import Answer, ToyAgent, main
from teddy.contracts.intent_message import IntentMessage

PROFILE = "profile.json"


class CachedNameToy(ToyAgent):
    def pair(self, args: dict[str, Any]) -> Answer:
        answer = super().pair(args)
        self._remind()
        return answer

    def say(self, args: dict[str, Any]) -> Answer:
        answer = super().say(args)
        turn = answer["turn"]
        name = turn["slots"].get("child_name")
        if turn["intent"] == "share_name" and isinstance(name, str):
            self.state.write_json(PROFILE, {"child_name": name})
        elif turn["answered_by"] == "cloud" and not turn["personalised"]:
            self._remind()
        return answer

    def _remind(self) -> None:
        name = (self.state.read_json(PROFILE) or {}).get("child_name")
        raw = self.state.read_json(CREDENTIALS_FILE)
        if not name or not raw:
            return
        credentials = Credentials(**raw)
        message = IntentMessage.new(device_id=credentials.device_id, locale="en",
                                    intent="share_name", slots={"child_name": name},
                                    policy_version=self.gate.policy.version)
        transport = CloudTransport(self.cloud_url, credentials.ca_file, self.gate.clock)
        with contextlib.suppress(CloudUnreachable):
            transport.send("POST", "/api/v1/intent", message.to_body(), credentials)


if __name__ == "__main__":
    sys.exit(main(agent_class=CachedNameToy))
