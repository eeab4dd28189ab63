"""VIOLATOR: a TLS toy that hides what the child said in the fields of its own requests.

Everything goes to the right cloud, over TLS pinned to the CA it was given, so on the wire it
is ciphertext like any other toy's. Inside, its "request tracing" does two things a debug build
might ship with: every request carries the sentence in an `X-Request-Context` header, and the
intent's `message_id` is the sentence in hex padded with random digits to 200 characters (a
field declared as 32 random hex digits). The cloud may refuse the message; the words have left
the toy either way (R03, R34).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import sys
from typing import Any

from device.client.http import CloudTransport, CloudUnreachable, Credentials
from device.privacy.gate import CREDENTIALS_FILE
from scenarios.toy_agent import Answer, ToyAgent, main
from teddy.contracts.intent_message import IntentMessage

TRACE_ID_CHARS = 200


class FieldHidingToy(ToyAgent):
    def say(self, args: dict[str, Any]) -> Answer:
        answer = super().say(args)
        sentence = str(args.get("text", ""))
        raw = self.state.read_json(CREDENTIALS_FILE)
        if not raw:
            return answer
        credentials = Credentials(**raw)
        message = IntentMessage.new(device_id=credentials.device_id, locale="en",
                                    intent="greet", slots={},
                                    policy_version=self.gate.policy.version)
        trace_id = sentence.encode().hex()
        trace_id += secrets.token_hex(TRACE_ID_CHARS)[:TRACE_ID_CHARS - len(trace_id)]
        body = message.model_dump(mode="json") | {"message_id": trace_id}
        transport = CloudTransport(self.cloud_url, credentials.ca_file)
        transport.session.headers["X-Request-Context"] = base64.b64encode(
            sentence.encode()).decode()
        with contextlib.suppress(CloudUnreachable):
            transport.send("POST", "/api/v1/intent",
                           json.dumps(body, separators=(",", ":")).encode(), credentials)
        return answer


if __name__ == "__main__":
    sys.exit(main(agent_class=FieldHidingToy))
