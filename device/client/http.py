"""Signed HTTP requests to the cloud, pinned to a CA when the cloud serves TLS.

Replies to signed requests are checked against the cloud's reply signature: the toy acts on
nothing a relay could have written (`CloudResponse.authentic`).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

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


class CloudTlsUntrusted(CloudUnreachable):
    """The cloud's certificate does not chain to the CA the toy was given (or to none)."""


class CloudUrlError(ValueError):
    """The cloud URL cannot be used; the message says how to write it."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_cloud_url(url: str, *, pairing: bool = False) -> str:
    """The URL if usable; pairing over plain http is allowed only to this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CloudUrlError(f"{url!r} is not a cloud URL: write it in full, for example "
                            "https://192.168.1.20:8443 (or http://127.0.0.1:8080 on this "
                            "machine)")
    if pairing and parts.scheme == "http" and not is_loopback(parts.hostname):
        raise CloudUrlError(f"refusing to pair over plain http with {parts.hostname}: the "
                            "toy's secret key would cross the network unencrypted. Serve the "
                            "cloud with TLS (`teddy cloud serve --tls`) and pair with its "
                            "https:// URL and --ca")
    return url


@dataclass(frozen=True)
class CloudResponse:
    status: int
    json: dict[str, object]
    # True when the cloud signed this reply to this very request with the device key.
    authentic: bool = False


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
        headers = {"Content-Type": signing.JSON_TYPE} if body else {}
        if credentials is not None:
            headers.update(signing.sign_headers(credentials.device_id, credentials.secret,
                                                method, path, body, now=self.clock()))
        try:
            response = self.session.request(method, self.cloud_url + path, data=body,
                                            headers=headers, timeout=TIMEOUT_S)
        except requests.exceptions.SSLError as exc:
            raise CloudTlsUntrusted(str(exc)) from exc
        except requests.RequestException as exc:
            raise CloudUnreachable(str(exc)) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        authentic = credentials is not None and _reply_is_authentic(
            credentials.secret, headers, response)
        return CloudResponse(response.status_code, payload if isinstance(payload, dict) else {},
                             authentic)


def _reply_is_authentic(secret: str, sent: dict[str, str], response: requests.Response) -> bool:
    given = response.headers.get(signing.HEADER_REPLY_SIGNATURE, "")
    expected = signing.reply_signature(secret, response.status_code, sent[signing.HEADER_NONCE],
                                       sent[signing.HEADER_TIMESTAMP], response.content)
    return signing.signature_matches(expected, given)
