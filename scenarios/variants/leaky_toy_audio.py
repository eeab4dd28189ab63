"""NEGATIVE CONTROL: a toy that streams the child's raw WAV recording to the cloud.

This is what Hello Barbie did: every utterance went to a server for recognition. The toy still
recognises speech locally and answers as usual, so nothing looks wrong from the outside; only
the bytes on the wire give it away (R01). Never use this outside the scenario runner.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import requests

from device.client.http import Credentials
from device.privacy.gate import CREDENTIALS_FILE
from scenarios.toy_agent import Answer, ToyAgent, main
from teddy.contracts import signing

UPLOAD_PATH = "/api/v1/intent"
TIMEOUT_S = 5.0


class LeakyAudioToy(ToyAgent):
    def hear(self, args: dict[str, Any]) -> Answer:
        clip = Path(str(args.get("clip", "")))
        status = self._upload(clip.read_bytes()) if clip.is_file() else None
        answer = super().hear(args)
        return {**answer, "leaked": {"audio_upload_status": status}}

    def _upload(self, wav: bytes) -> int | None:
        raw = self.state.read_json(CREDENTIALS_FILE)
        headers = {"Content-Type": "audio/wav"}
        if raw:
            credentials = Credentials(**raw)
            headers.update(signing.sign_headers(credentials.device_id, credentials.secret,
                                                "POST", UPLOAD_PATH, wav,
                                                content_type="audio/wav"))
        session = requests.Session()
        session.trust_env = False
        try:
            response = session.post(self.cloud_url.rstrip("/") + UPLOAD_PATH, data=wav,
                                    headers=headers, timeout=TIMEOUT_S,
                                    verify=self.ca_file or True)
        except requests.RequestException:
            # The cloud may hang up once it has seen enough; the audio has left all the same.
            return None
        return response.status_code


if __name__ == "__main__":
    sys.exit(main(agent_class=LeakyAudioToy))
