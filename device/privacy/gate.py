"""The egress gate: every byte the toy sends passes here, is minimised, and is recorded.

Default deny. Nothing about the child leaves before a consent policy allows it; location never
leaves; personal slots leave only under the purpose the data map names for them (R03-R05).

The toy trusts only what the cloud signed with its device key: an unsigned or altered policy
or reply is ignored (the last good policy stays) and `notice` says so. Every request is in the
egress ledger before its bytes leave; when the ledger cannot be written, nothing is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from device.client.http import (
    CloudResponse,
    CloudTransport,
    CloudUnreachable,
    Credentials,
    check_cloud_url,
)
from device.privacy.ledger import EgressLedger, LedgerEntry, LedgerUnavailable
from device.privacy.outbox import (
    ASK_AFTER_S,
    ASK_WITHIN_S,
    Outbox,
    OutboxUnavailable,
    PendingMessage,
)
from device.privacy.policy import ConsentPolicy, load_cached, save_cached
from device.seam import seam_point
from device.state import StateError, StateFileError, ToyState
from teddy.contracts.data_map import data_map
from teddy.contracts.intent_message import OUTCOME_PATH, IntentMessage, OutcomeQuestion

CREDENTIALS_FILE = "credentials.json"
INTENT_PATH = "/api/v1/intent"
# What became of a message sent without a definite answer, in the egress ledger's words.
STORED = "stored: the cloud's answer, asked for after the toy restarted"
NOT_STORED = "not stored: the cloud holds no record of it"
REFUSED = "unknown: the cloud no longer answers it (a consent it served was withdrawn)"
EXPIRED = "unknown, expired: not asked within the cloud's 10-minute record of answers"
WITHDRAWN = "unknown, not asked: the parent withdrew a consent it needed"
FORGOTTEN = "unknown, not asked: the cloud no longer accepts this toy"
# Intents whose only content is personal: without their slot there is nothing to send.
PERSONAL_ONLY_INTENTS = frozenset({"share_name", "share_age", "share_favorite"})
# A message the cloud may have stored without the toy hearing so is sent again, same
# message_id, at most this many times in all, and never starting after RETRY_WITHIN_S.
MAX_DELIVERY_ATTEMPTS = 3
RETRY_WITHIN_S = 3.0
# Shorter than the cloud's Retry-After (1 s): the child is waiting, and the cloud answers a
# repeat of a stored message from its record.
RETRY_PAUSE_S = 0.25
# The cloud's signed 503s after which a retry may succeed; "storage_full" asks for a minute.
RETRYABLE_CODES = frozenset({"outcome_unknown", "database_busy"})
UNSIGNED_REPLY = ("the cloud's reply was not signed with this toy's key (something between "
                  "the toy and the cloud may have changed it)")


class PairingError(PermissionError):
    """Pairing did not happen, or happened but could not be kept; the message says which."""


@dataclass(frozen=True)
class Decision:
    """Either a message that may leave, or the reason the toy answers on its own."""

    message: IntentMessage | None
    reason: str
    dropped_slots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    status: int | None
    body: bytes | None  # what left the toy; None when nothing was sent
    reply: str | None
    personalised: bool
    problem: str | None = None


class EgressGate:
    def __init__(self, state: ToyState, ledger: EgressLedger | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock` is the toy's wall clock; scenarios that move time pass theirs."""
        self.state = state
        self.clock = clock
        self.ledger = ledger or EgressLedger(state)
        self.outbox = Outbox(state)
        # The latest thing the toy's owner should know (a damaged file, an unsigned reply, a
        # wrong clock); None when all is well.
        self.notice: str | None = None
        self.clock_skew_s: float | None = None
        self.policy_untrusted = False
        self._credentials = self._load_credentials()
        try:
            self.policy = load_cached(state)
        except StateFileError as error:
            self.policy = ConsentPolicy.deny_all()
            damaged = f"{error}: using deny-all until the cloud sends a signed policy"
            self.notice = f"{self.notice}; {damaged}" if self.notice else damaged
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

    @property
    def cloud_url(self) -> str | None:
        """The cloud this toy is paired with (never its key)."""
        return self._credentials.cloud_url if self._credentials else None

    @property
    def ca_file(self) -> str | None:
        return self._credentials.ca_file if self._credentials else None

    def pair(self, cloud_url: str, code: str, ca_file: str | None = None) -> str:
        """Redeem a parent's pairing code; raises CloudUrlError, PairingError, StateError."""
        check_cloud_url(cloud_url, pairing=True)
        transport = CloudTransport(cloud_url, ca_file, self.clock)
        # Redeeming burns the code: first make sure the key it returns can be kept.
        sample = Credentials(cloud_url, "toy-" + "0" * 32, "0" * 64, ca_file).__dict__
        try:
            self.state.check_writable(CREDENTIALS_FILE, sample)
        except OSError as error:
            raise StateError(f"cannot save the toy's key in {self.state.directory} "
                             f"({error.strerror or error}): nothing was sent and the pairing "
                             "code is still good") from error
        body = json.dumps({"code": code}).encode()
        response = self._send(transport, "POST", "/api/v1/pair", body, "pairing", None)
        # The cloud's own refusals (a wrong or withdrawn code, too many tries) and the
        # transport's word on a redirect say what happened; anything else is not a Teddy
        # cloud answering.
        if response.status in (401, 410, 429) or 300 <= response.status < 400:
            raise PairingError(str(response.json.get("error", "pairing refused")))
        if response.status != 201:
            raise PairingError(f"{cloud_url} answered {response.status} to the pairing request, "
                               "not as a Teddy cloud does: check the address (`teddy cloud "
                               "serve` prints it)")
        device_id, secret = response.json.get("device_id"), response.json.get("secret")
        if not isinstance(device_id, str) or not isinstance(secret, str):
            raise PairingError("the cloud's answer to pairing had no device key")
        credentials = Credentials(cloud_url, device_id, secret, ca_file)
        try:
            self.state.write_json(CREDENTIALS_FILE, credentials.__dict__)
        except OSError as error:
            raise StateError(f"the cloud accepted the code but the toy could not save its key "
                             f"in {self.state.directory} ({error.strerror or error}); the code "
                             "is used up: ask the parent for a new one") from error
        self._credentials, self._transport = credentials, transport
        self.notice = None
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
        except LedgerUnavailable as error:
            self.notice = f"{error}; kept the last consent policy"
            return self.policy
        if response.status == 401 and self._clock_problem(response):
            return self.policy
        if response.status == 401:
            self._forgotten_by_cloud()
        elif response.status == 200 and not response.authentic:
            self.policy_untrusted = True
            self.notice = f"{UNSIGNED_REPLY}: ignored it and kept the last consent policy"
        elif response.status == 200:
            self._accept_policy(response.json)
        return self.policy

    def unpair_from_cloud(self) -> tuple[bool, str]:
        """Ask the cloud to forget this toy and its key: (forgotten, what happened in words).

        Raises CloudUnreachable when no answer came. A cloud that already refuses the toy's
        key counts as done (the parent removed the toy, or deleted the child); an unsigned
        answer proves nothing and counts as not done."""
        if not self._transport or not self._credentials:
            return False, "not paired"
        response = self._send(self._transport, "POST", "/api/v1/unpair", b"", "unpairing",
                              self._credentials)
        if response.status == 200 and response.authentic:
            return True, "the cloud forgot this toy and its key"
        if response.status == 401 and self._clock_problem(response):
            return False, f"the cloud refused the request: {self._clock_notice()}"
        if response.status == 401:
            return True, "the cloud no longer accepts this toy's key"
        signed = "" if response.authentic else ", not signed with this toy's key"
        return False, f"the cloud answered {response.status}{signed}"

    # -- what may leave -----------------------------------------------------------------
    @seam_point("decide")
    def decide(self, intent: str, slots: dict[str, str | int], locale: str) -> Decision:
        dmap = data_map()
        if intent in dmap.local_only_intents:
            reason = ("where a child lives never leaves the toy" if intent == "share_location"
                      else "answered on the toy")
            return Decision(None, reason, tuple(slots))
        if not self.paired:
            return Decision(None, "toy not paired: playing offline", tuple(slots))
        if "core" not in self.policy.purposes:
            if self.clock_skew_s is not None:
                return Decision(None, self._clock_notice() + ": playing offline", tuple(slots))
            if self.policy_untrusted:
                return Decision(None, "the cloud's consent policy could not be trusted (not "
                                "signed with this toy's key): playing offline", tuple(slots))
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
        """Send one message; on failure the toy answers locally.

        When the cloud may have stored the message without the toy hearing so (a connection
        dropped after it was open, a signed 503 "outcome_unknown" or "database_busy"), the
        same body, with the same message_id, is sent again: the cloud answers a message it
        already stored with the stored reply, so the child hears one answer and the history
        holds one entry. A refused connection sent nothing and is not retried.
        At most MAX_DELIVERY_ATTEMPTS tries, and no retry begun RETRY_WITHIN_S after the first
        (a cloud that timed out is not asked again: the toy's answer is due).

        The message's id is in the outbox (fsynced) before its first byte leaves and until a
        definite answer comes, so a toy that stops before then asks the cloud what became of
        it on its next start or request (`ask_about_pending`), before anything new.
        """
        assert self._transport and self._credentials
        decided_under = self.policy
        self.ask_about_pending()
        if (self.policy is not decided_under
                and not message.purposes_needed() | {"core"} <= self.policy.purposes):
            # The cloud's answers to those questions carried a withdrawal: it holds here too.
            # (Only then: `decide` stays the one place that applies the policy.)
            return Delivery(None, None, None, False, self.notice or (
                "a consent this message needs was withdrawn: answered on the toy"))
        body = message.to_body()
        purpose = "+".join(sorted(message.purposes_needed()))
        try:
            self.outbox.add(PendingMessage(message.message_id, purpose, self.clock()))
        except OutboxUnavailable as error:
            self.notice = str(error)
            return Delivery(None, None, None, False, str(error))
        started = time.monotonic()
        response: CloudResponse | None = None
        may_have_arrived = False
        for attempt in range(MAX_DELIVERY_ATTEMPTS):
            if attempt and time.monotonic() - started >= RETRY_WITHIN_S:
                break
            try:
                response = self._send(self._transport, "POST", INTENT_PATH, body, purpose,
                                      self._credentials)
            except CloudUnreachable as error:
                response = None
                if error.may_have_arrived:
                    may_have_arrived = True
                    continue
                break
            except LedgerUnavailable as error:
                self.notice = str(error)
                if not attempt:  # nothing left the toy: nothing to ask about
                    self._settle(message.message_id)
                return Delivery(None, None, None, False, str(error))
            if not _worth_retrying(response):
                break
            may_have_arrived = True
            if attempt + 1 < MAX_DELIVERY_ATTEMPTS:
                time.sleep(RETRY_PAUSE_S)
        if response is None:
            if not may_have_arrived:  # every try was refused before a byte was sent
                self._settle(message.message_id)
            return Delivery(None, body, None, False)
        if _definite(response):
            self._settle(message.message_id)
        return self._delivered(body, response)

    def ask_about_pending(self) -> int:
        """Ask the cloud what became of each message an earlier run sent without a definite
        answer; how many are still unanswered.

        The question carries the message_id alone: the cloud answers from its record (the
        stored reply) or says it has none. The child is not waiting for these answers; the
        egress ledger has them, on the message's own line. Past the cloud's window, after
        the parent withdrew a consent, or once the cloud forgot the toy, a message is not
        asked about but dropped, and the ledger says its outcome is unknown."""
        try:
            pending = self.outbox.pending()
        except StateFileError as error:
            try:
                aside = self.outbox.set_aside_damaged()
            except OSError as move_error:
                self.notice = f"{error}; it could not be set aside ({move_error})"
                return 0
            self.notice = (f"{error}: set aside as {aside} (the messages it lists are not "
                           "asked about; `teddy device unpair` removes it); nothing else "
                           "changed")
            return 0
        if not pending or not self._transport or not self._credentials:
            return len(pending)
        for entry in pending:
            age = self.clock() - entry.queued_at
            if not 0 <= age < ASK_WITHIN_S:  # a clock set back is no proof of youth
                self._give_up(entry, EXPIRED)
                continue
            if not set(filter(None, entry.purpose.split("+"))) <= self.policy.purposes:
                self._give_up(entry, WITHDRAWN)
                continue
            if age < ASK_AFTER_S:
                continue  # a try may still be running in the cloud: ask on a later request
            question = OutcomeQuestion(message_id=entry.message_id).to_body()
            try:
                response = self._send(self._transport, "POST", OUTCOME_PATH, question,
                                      "outcome-check", self._credentials)
            except CloudUnreachable:
                break  # ask again on the next start or request
            except LedgerUnavailable as error:
                self.notice = str(error)
                break
            if response.status == 401:
                if not self._clock_problem(response):
                    self._forgotten_by_cloud()  # drops every entry, saying why
                break
            if not response.authentic or _worth_retrying(response):
                break
            policy = response.json.get("policy")
            if response.status in (200, 403, 404):
                outcome = {200: STORED, 403: REFUSED, 404: NOT_STORED}[response.status]
                self._give_up(entry, outcome, 200 if response.status == 200 else None)
            if isinstance(policy, dict):
                self._accept_policy(policy)
        try:
            return len(self.outbox.pending())
        except StateFileError:
            return 0

    def _settle(self, message_id: str) -> None:
        try:
            self.outbox.remove(message_id)
        except OutboxUnavailable as error:
            self.notice = str(error)

    def _give_up(self, entry: PendingMessage, outcome: str, status: int | None = None) -> None:
        """Take a message out of the outbox, its outcome written on its last try's line in
        the egress ledger (where a parent or auditor reads what was sent)."""
        sent = [e for e in self.ledger.entries()
                if e.path == INTENT_PATH and f'"message_id":"{entry.message_id}"' in e.body]
        try:
            if sent:
                self.ledger.record_outcome(sent[-1].request_id, status, outcome)
        except LedgerUnavailable as error:
            self.notice = f"{error}; the unanswered message stays in the outbox"
            return
        self._settle(entry.message_id)

    def _drop_pending(self, outcome: str) -> None:
        try:
            pending = self.outbox.pending()
        except StateFileError:
            return  # set aside by ask_about_pending; nothing in it is sent
        for entry in pending:
            self._give_up(entry, outcome)

    def _delivered(self, body: bytes, response: CloudResponse) -> Delivery:
        if response.status == 401 and self._clock_problem(response):
            return Delivery(response.status, body, None, False, self._clock_notice())
        if response.status == 401 and not response.authentic:
            self._forgotten_by_cloud()
            return Delivery(response.status, body, None, False, self.notice)
        if not response.authentic:
            if response.status >= 500:  # the cloud failed; its error page is not signed
                return Delivery(response.status, body, None, False,
                                f"cloud error ({response.status}): answered on the toy")
            self.notice = f"{UNSIGNED_REPLY}: answered on the toy"
            return Delivery(response.status, body, None, False, self.notice)
        self.clock_skew_s = None
        policy = response.json.get("policy")
        if isinstance(policy, dict):
            self._accept_policy(policy)
        if response.status != 200:
            return Delivery(response.status, body, None, False)
        reply = response.json.get("reply")
        return Delivery(200, body, reply if isinstance(reply, str) else None,
                        bool(response.json.get("personalised")))

    # -- internals ----------------------------------------------------------------------
    def _send(self, transport: CloudTransport, method: str, path: str, body: bytes,
              purpose: str, credentials: Credentials | None) -> CloudResponse:
        entry = LedgerEntry(at=self.clock(), method=method, path=path, purpose=purpose,
                            body_bytes=len(body), body=_ledger_body(path, body), status=None)
        self.ledger.record_request(entry)  # raises LedgerUnavailable: then nothing leaves
        response = transport.send(method, path, body, credentials)
        try:
            self.ledger.record_outcome(entry.request_id, response.status)
        except LedgerUnavailable as error:
            self.notice = str(error)
        return response

    def _forgotten_by_cloud(self) -> None:
        # Fail closed: the cloud no longer knows this toy (unpaired, or its child deleted).
        # A forged 401 can only make the toy more private, never less.
        self._set_policy(ConsentPolicy.deny_all())
        self._drop_pending(FORGOTTEN)
        self.notice = ("the cloud no longer accepts this toy (unpaired, or its child's data was "
                       "deleted): playing offline; pair it again to go on")

    def _accept_policy(self, value: dict[str, object]) -> None:
        """Apply a policy the cloud signed; a malformed one changes nothing."""
        try:
            policy = ConsentPolicy.from_json(value)
        except ValueError:
            self.notice = "the cloud sent a malformed consent policy: kept the last one"
            return
        self.clock_skew_s = None
        self.policy_untrusted = False
        withdrawn = self.policy.purposes - policy.purposes
        self._set_policy(policy)
        if withdrawn:
            # Nothing waiting is sent after a withdrawal: the cloud would refuse what needed
            # the purpose, and even a message that did not could have been answered from it.
            self._drop_pending(WITHDRAWN)

    def _clock_problem(self, response: CloudResponse) -> bool:
        """A signed 401 saying the toy's clock is off: note it, keep the cached policy."""
        skew = response.json.get("clock_skew_s")
        if not response.authentic or not isinstance(skew, int | float):
            return False
        self.clock_skew_s = float(skew)
        self.notice = self._clock_notice() + "; kept the cached consent policy"
        return True

    def _clock_notice(self) -> str:
        skew = self.clock_skew_s or 0.0
        direction = "ahead of" if skew > 0 else "behind"
        rounded = round(abs(skew), -1)
        return (f"the toy's clock is off by ~{rounded:.0f} s ({direction} the cloud's): set "
                "the clock (turn on network time, NTP) so the cloud accepts its requests")

    def _set_policy(self, policy: ConsentPolicy) -> None:
        self.policy = policy
        try:
            save_cached(self.state, policy)
        except OSError as error:
            self.notice = (f"cannot save the consent policy in {self.state.directory} "
                           f"({error.strerror or error}): using it until the toy restarts")

    def _load_credentials(self) -> Credentials | None:
        try:
            raw = self.state.read_json(CREDENTIALS_FILE)
            if raw is None:
                return None
            credentials = Credentials(**raw)
            if not all(isinstance(getattr(credentials, name), str)
                       for name in ("cloud_url", "device_id", "secret")):
                raise TypeError("wrong field types")
            return credentials
        except (StateFileError, TypeError) as error:
            detail = str(error) if isinstance(error, StateFileError) else (
                f"{self.state.path(CREDENTIALS_FILE)} is damaged (unexpected fields)")
            self.notice = (f"{detail}: the toy plays offline (deny-all) until it is paired "
                           "again with `teddy device pair`")
            return None


def _definite(response: CloudResponse) -> bool:
    """Whether the answer settles the message: the cloud signed it and it is not "maybe";
    or the cloud no longer knows the toy (then nothing it sent can be stored again)."""
    if response.status == 401:
        return True
    return response.authentic and not _worth_retrying(response)


def _worth_retrying(response: CloudResponse) -> bool:
    return (response.status == 503 and response.authentic
            and response.json.get("code") in RETRYABLE_CODES)


def _ledger_body(path: str, body: bytes) -> str:
    # The pairing code is a one-time secret: the ledger notes that it was sent, not its value.
    if path == "/api/v1/pair":
        return '{"code": "<pairing code>"}'
    return body.decode("utf-8", errors="replace")
