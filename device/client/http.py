"""Signed HTTP requests to the cloud, pinned to a CA when the cloud serves TLS."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from teddy.contracts import signing

TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Credentials:
    cloud_url: str
    device_id: str
    secret: str
    ca_file: str | None = None


class CloudUnreachable(Exception):
    pass


@dataclass(frozen=True)
class CloudResponse:
    status: int
    json: dict[str, object]


class CloudTransport:
    def __init__(self, cloud_url: str, ca_file: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cloud_url = cloud_url.rstrip("/")
        self.clock = clock
        self.session = requests.Session()
        # Pin the toy to the cloud's own CA; never fall back to the system store for it.
        self.session.verify = ca_file if ca_file else True
        self.session.trust_env = False

    def send(self, method: str, path: str, body: bytes = b"",
             credentials: Credentials | None = None) -> CloudResponse:
        headers = {"Content-Type": "application/json"} if body else {}
        if credentials is not None:
            headers.update(signing.sign_headers(credentials.device_id, credentials.secret,
                                                method, path, body, now=self.clock()))
        try:
            response = self.session.request(method, self.cloud_url + path, data=body,
                                            headers=headers, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise CloudUnreachable(str(exc)) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        return CloudResponse(response.status_code, payload if isinstance(payload, dict) else {})
