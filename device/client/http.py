"""Signed HTTP requests to the cloud, pinned to a CA when the cloud serves TLS.

Replies to signed requests are checked against the cloud's reply signature: the toy acts on
nothing a relay could have written (`CloudResponse.authentic`). A reply is only parsed once it
is known to be small enough and, for a signed request, signed; the whole exchange has one
deadline, however slowly the other end trickles; and a redirect is answered like an error,
never followed, so nothing the toy sends goes anywhere but the cloud it was paired with.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3

from teddy.contracts import signing

# The whole exchange (connect, send, headers, body) must be over within this long.
TIMEOUT_S = 3.0
# Every reply the cloud sends (a policy, an intent's reply, an error) is well under this.
MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Credentials:
    cloud_url: str
    device_id: str
    secret: str
    ca_file: str | None = None


class CloudUnreachable(Exception):
    """No answer came. `may_have_arrived`: the request may have reached the cloud (the
    connection was open when it failed), so the cloud may have acted on it."""

    def __init__(self, message: str, *, may_have_arrived: bool = False) -> None:
        super().__init__(message)
        self.may_have_arrived = may_have_arrived


class CloudTlsUntrusted(CloudUnreachable):
    """The cloud's certificate does not chain to the CA the toy was given (or to none)."""


class _ReplyTooLarge(Exception):
    pass


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
    if pairing and parts.path.strip("/"):
        base = f"{parts.scheme}://{parts.netloc}"
        raise CloudUrlError(f"{url!r} is a page of the cloud, not its address: pair with "
                            f"--cloud {base} (the part before {parts.path})")
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


@dataclass(frozen=True)
class _RawReply:
    status: int
    headers: Mapping[str, str]  # case-insensitive, as the server sent them
    content: bytes


class CloudTransport:
    def __init__(self, cloud_url: str, ca_file: str | None = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = TIMEOUT_S) -> None:
        self.cloud_url = cloud_url.rstrip("/")
        self.clock = clock
        self.timeout_s = timeout_s
        self._ca_file = ca_file
        self._lock = threading.Lock()
        self.session = self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # Pin the toy to the cloud's own CA; never fall back to the system store for it.
        session.verify = self._ca_file if self._ca_file else True
        session.trust_env = False
        return session

    def send(self, method: str, path: str, body: bytes = b"",
             credentials: Credentials | None = None) -> CloudResponse:
        headers = {"Content-Type": signing.JSON_TYPE} if body else {}
        if credentials is not None:
            headers.update(signing.sign_headers(credentials.device_id, credentials.secret,
                                                method, path, body, now=self.clock()))
        deadline = time.monotonic() + self.timeout_s
        with self._lock:
            session = self.session
        # In a thread of its own (a daemon, so a stuck one never delays the toy's exit), so
        # that the toy gets its answer, or gives up, on time even when a cloud trickles its
        # reply a byte at a time.
        outcome: list[_RawReply | BaseException] = []

        def exchange() -> None:
            try:
                outcome.append(self._exchange(session, method, path, body, headers, deadline))
            except BaseException as exc:  # handed to the caller's thread below
                outcome.append(exc)

        worker = threading.Thread(target=exchange, name="cloud-request", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()) + 0.05)
        if not outcome:
            with self._lock:  # the stuck exchange keeps its session; later ones get a new one
                self.session = self._new_session()
            raise CloudUnreachable(f"the cloud did not answer within {self.timeout_s:g} s",
                                   may_have_arrived=True)
        reply = outcome[0]
        if isinstance(reply, requests.exceptions.SSLError):
            raise CloudTlsUntrusted(str(reply)) from reply
        if isinstance(reply, requests.RequestException | _ReplyTooLarge):
            raise CloudUnreachable(str(reply), may_have_arrived=_after_connecting(reply)) from reply
        if isinstance(reply, BaseException):
            raise reply
        if 300 <= reply.status < 400:
            # Not followed: the toy's requests go to its own cloud or nowhere.
            return CloudResponse(reply.status, {"error": (
                f"the cloud answered with a redirect ({reply.status}); the toy does not follow "
                "redirects, so nothing was sent anywhere else")})
        authentic = credentials is not None and _reply_is_authentic(
            credentials.secret, headers, reply)
        if credentials is not None and not authentic:
            # Nothing unsigned is acted on, so it is not even parsed.
            return CloudResponse(reply.status, {}, False)
        return CloudResponse(reply.status, _json_object(reply.content), authentic)

    def _exchange(self, session: requests.Session, method: str, path: str, body: bytes,
                  headers: dict[str, str], deadline: float) -> _RawReply:
        budget = max(0.01, deadline - time.monotonic())
        with contextlib.closing(session.request(
                method, self.cloud_url + path, data=body, headers=headers,
                timeout=(budget, budget), allow_redirects=False, stream=True)) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
                raise _ReplyTooLarge(f"the cloud's reply was too large ({declared} bytes)")
            content = bytearray()
            for chunk in response.iter_content(4096):
                content += chunk
                if len(content) > MAX_REPLY_BYTES:
                    raise _ReplyTooLarge("the cloud's reply was too large")
                if time.monotonic() > deadline:
                    raise requests.exceptions.ReadTimeout("the cloud's reply came too slowly")
            return _RawReply(response.status_code, response.headers, bytes(content))


def _after_connecting(error: BaseException) -> bool:
    """Whether a failed exchange got as far as an open connection (then the request may have
    been received); a refused or timed-out connect sent nothing. A reply too large to read
    came from a cloud that did answer: nothing to gain from asking again."""
    if isinstance(error, _ReplyTooLarge | requests.exceptions.ConnectTimeout):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        return not isinstance(reason, urllib3.exceptions.NewConnectionError)
    return True


def _json_object(content: bytes) -> dict[str, object]:
    try:
        payload = json.loads(content)
    except (ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _reply_is_authentic(secret: str, sent: dict[str, str], reply: _RawReply) -> bool:
    given = reply.headers.get(signing.HEADER_REPLY_SIGNATURE, "")
    expected = signing.reply_signature(secret, reply.status, sent[signing.HEADER_NONCE],
                                       sent[signing.HEADER_TIMESTAMP], reply.content)
    return signing.signature_matches(expected, given)
