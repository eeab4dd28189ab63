"""The egress gate: every byte the toy sends passes here, is minimised, and is recorded.

Default deny. Nothing about the child leaves before a consent policy allows it; location never
leaves; personal slots leave only under the purpose the data map names for them (R03-R05).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from device.client.http import CloudResponse, CloudTransport, CloudUnreachable, Credentials
from device.privacy.ledger import EgressLedger, LedgerEntry
from device.privacy.policy import ConsentPolicy, load_cached, save_cached
from device.state import ToyState
from teddy.contracts.data_map import data_map
from teddy.contracts.intent_message import IntentMessage

CREDENTIALS_FILE = "credentials.json"
# Intents whose only content is personal: without their slot there is nothing to send.
PERSONAL_ONLY_INTENTS = frozenset({"share_name", "share_age", "share_favorite"})


@dataclass(frozen=True)
class Decision:
    """Either a message that may leave, or the reason the toy answers on its own."""

    message: IntentMessage | None
    reason: str
    dropped_slots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    status: int | None
    body: bytes
    reply: str | None
    personalised: bool


class EgressGate:
    def __init__(self, state: ToyState, ledger: EgressLedger | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock` is the toy's wall clock; scenarios that move time pass theirs."""
        self.state = state
        self.clock = clock
        self.ledger = ledger or EgressLedger(state)
        self.policy = load_cached(state)
        self._credentials = self._load_credentials()
        self._transport = (
            CloudTransport(self._credentials.cloud_url, self._credentials.ca_file, clock)
            if self._credentials else None
        )

    # -- pairing and policy -------------------------------------------------------------
    @property
    def paired(self) -> bool:
        return self._credentials is not None

    @property
    def device_id(self) -> str | None:
        return self._credentials.device_id if self._credentials else None

    def pair(self, cloud_url: str, code: str, ca_file: str | None = None) -> str:
        transport = CloudTransport(cloud_url, ca_file, self.clock)
        body = json.dumps({"code": code}).encode()
        response = self._send(transport, "POST", "/api/v1/pair", body, "pairing", None)
        if response.status != 201:
            raise PermissionError(str(response.json.get("error", "pairing refused")))
        credentials = Credentials(cloud_url, str(response.json["device_id"]),
                                  str(response.json["secret"]), ca_file)
        self.state.write_json(CREDENTIALS_FILE, credentials.__dict__)
        self._credentials, self._transport = credentials, transport
        # A new pairing starts at the highest privacy setting until the cloud says otherwise.
        self._set_policy(ConsentPolicy.deny_all())
        self.refresh_policy()
        return credentials.device_id

    def refresh_policy(self) -> ConsentPolicy:
        """Ask the cloud what is consented; if it cannot be reached, keep the cached policy."""
        if not self._transport or not self._credentials:
            return self.policy
        try:
            response = self._send(self._transport, "GET", "/api/v1/policy", b"",
                                  "consent-check", self._credentials)
        except CloudUnreachable:
            return self.policy
        if response.status == 200:
            self._set_policy(ConsentPolicy.from_json(response.json))
        elif response.status == 401:
            self._set_policy(ConsentPolicy.deny_all())
        return self.policy

    # -- what may leave -----------------------------------------------------------------
    def decide(self, intent: str, slots: dict[str, str | int], locale: str) -> Decision:
        dmap = data_map()
        if intent in dmap.local_only_intents:
            reason = ("where a child lives never leaves the toy" if intent == "share_location"
                      else "answered on the toy")
            return Decision(None, reason, tuple(slots))
        if not self.paired:
            return Decision(None, "toy not paired: playing offline", tuple(slots))
        if "core" not in self.policy.purposes:
            return Decision(None, "no consent yet: playing offline", tuple(slots))
        kept: dict[str, str | int] = {}
        dropped: list[str] = []
        for name, value in slots.items():
            rule = dmap.slots.get(name)
            if rule and rule.leaves_toy != "never" and rule.purpose in self.policy.purposes:
                kept[name] = value
            else:
                dropped.append(name)
        if intent in PERSONAL_ONLY_INTENTS and dropped:
            return Decision(None, "personal detail without consent stays on the toy",
                            tuple(dropped))
        assert self._credentials is not None
        message = IntentMessage.new(device_id=self._credentials.device_id, locale=locale,
                                    intent=intent, slots=kept, policy_version=self.policy.version,
                                    now=datetime.fromtimestamp(self.clock(), UTC))
        return Decision(message, "consented", tuple(dropped))

    def deliver(self, message: IntentMessage) -> Delivery:
        """Send one message; on failure the toy answers locally and nothing is queued."""
        assert self._transport and self._credentials
        body = message.to_body()
        purpose = "+".join(sorted(message.purposes_needed()))
        try:
            response = self._send(self._transport, "POST", "/api/v1/intent", body, purpose,
                                  self._credentials)
        except CloudUnreachable:
            return Delivery(None, body, None, False)
        policy = response.json.get("policy")
        if isinstance(policy, dict):
            self._set_policy(ConsentPolicy.from_json(policy))
        if response.status != 200:
            return Delivery(response.status, body, None, False)
        reply = response.json.get("reply")
        return Delivery(200, body, reply if isinstance(reply, str) else None,
                        bool(response.json.get("personalised")))

    # -- internals ----------------------------------------------------------------------
    def _send(self, transport: CloudTransport, method: str, path: str, body: bytes,
              purpose: str, credentials: Credentials | None) -> CloudResponse:
        status: int | None = None
        try:
            response = transport.send(method, path, body, credentials)
            status = response.status
            return response
        finally:
            self.ledger.append(LedgerEntry(at=self.clock(), method=method, path=path,
                                           purpose=purpose, body_bytes=len(body),
                                           body=_ledger_body(path, body), status=status))

    def _set_policy(self, policy: ConsentPolicy) -> None:
        self.policy = policy
        save_cached(self.state, policy)

    def _load_credentials(self) -> Credentials | None:
        raw = self.state.read_json(CREDENTIALS_FILE)
        return Credentials(**raw) if raw else None


def _ledger_body(path: str, body: bytes) -> str:
    # The pairing code is a one-time secret: the ledger notes that it was sent, not its value.
    if path == "/api/v1/pair":
        return '{"code": "<pairing code>"}'
    return body.decode("utf-8", errors="replace")
