"""Device API routes: pair, fetch the consent policy, send an intent, get a reply, unpair.

Checks run cheapest and most fundamental first: size (413), signature (401), content type
(415), schema (422), then, inside one write transaction, replay (401) and consent (403).
Every rejection leaves the database as it was; only an authentic, valid request refused for
want of consent records its nonce, so that it cannot be replayed once consent is given.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from cloud import audit, personalisation
from cloud.consent import current_policy
from cloud.db import get_clock, get_db
from cloud.device_api.auth import (
    AuthenticatedDevice,
    AuthError,
    ClockSkew,
    authenticate,
    nonces,
    sign_reply,
    verify_signature,
)
from cloud.device_api.pairing_throttle import PairingThrottle
from cloud.device_api.processed import MessageIdReused, StoredReply, message_digest, processed
from cloud.keys.fields import seal_value
from cloud.retention.checkpoint import checkpoint_truncate
from cloud.retention.erasure import forget_device
from cloud.seam import seam_point
from cloud.storage.db import write_transaction
from teddy.content import Profile, compose_reply
from teddy.contracts.data_map import data_map
from teddy.contracts.intent_message import MAX_BODY_BYTES, IntentMessage, OutcomeQuestion

bp = Blueprint("device_api", __name__, url_prefix="/v1")
# Every reply to an authentic device request carries the cloud's signature (the toy trusts
# nothing else), including refusals and errors.
bp.after_request(sign_reply)

MAX_PAIRING_CODE_CHARS = 32
ACTIVITY_RESOLUTION_S = 60.0
Reply = tuple[Response, int] | Response


def _error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=message, **extra), status


def _unauthenticated(error: AuthError | None = None) -> tuple[Response, int]:
    # One answer for every authentication failure, so a caller learns nothing about why; only
    # the device itself (whose signature checked out) learns that its clock is off, and the
    # reply carrying the cloud's time is signed.
    if isinstance(error, ClockSkew):
        return _error(401, "the toy's clock is off", server_time=round(error.server_time),
                      clock_skew_s=round(error.skew_s))
    return _error(401, "unauthenticated device request")


def _too_large() -> tuple[Response, int]:
    return _error(413, "request body too large", limit_bytes=MAX_BODY_BYTES)


def _body_within_limit() -> bytes | None:
    """The body, or None when it is over the limit; never reads more than the limit allows."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return None
    # A chunked body has no declared length. Werkzeug stops reading at the cap without
    # saying so, so cap one byte past the limit: getting that byte means it was too large.
    request.max_content_length = MAX_BODY_BYTES + 1
    body = request.get_data(cache=True)
    return None if len(body) > MAX_BODY_BYTES else body


@dataclass(frozen=True)
class SignedRequest:
    db: sqlite_utils.Database
    now: float
    device: AuthenticatedDevice
    body: bytes


def _signed_request() -> SignedRequest | tuple[Response, int]:
    """The request's body and the toy that signed it, or the refusal to send: too large (413,
    before reading more) or not signed by a paired toy (401)."""
    body = _body_within_limit()
    if body is None:
        return _too_large()
    db = get_db()
    now = get_clock().time()
    try:
        device = verify_signature(db, request, now)
    except AuthError as error:
        return _unauthenticated(error)
    return SignedRequest(db, now, device, body)


def _policy(db: sqlite_utils.Database, child_id: int) -> dict[str, Any]:
    version, purposes = current_policy(db, child_id, current_app.config["TEDDY"].notice_version)
    return {"version": version, "purposes": sorted(purposes)}


@seam_point("policy_for_message")
def _policy_for_message(db: sqlite_utils.Database, child_id: int,
                        message: IntentMessage) -> dict[str, Any]:
    # The policy in force as the message arrives: a toy's `sent_at` is its own word and may
    # predate a withdrawal the parent has already made (R12, R31).
    return _policy(db, child_id)


def _pairing_throttle() -> PairingThrottle:
    config = current_app.config["TEDDY"]
    return PairingThrottle(config.pairing_attempts_per_15_min,
                           config.pairing_attempts_global_per_15_min, config.secret_key)


def _json_or_none(body: bytes) -> Any:
    """The parsed body, or None when it is not JSON (or nests deeper than a parser allows)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


@bp.post("/pair")
def pair() -> Reply:
    raw = _body_within_limit()
    if raw is None:
        return _too_large()
    body = _json_or_none(raw)
    if (not isinstance(body, dict) or set(body) != {"code"} or not isinstance(body["code"], str)
            or len(body["code"]) > MAX_PAIRING_CODE_CHARS):
        return _error(422, 'expected {"code": "<pairing code>"}')
    now = get_clock().time()
    db = get_db()
    attempt = _pairing_throttle().attempt(db, request.remote_addr or "unknown", body["code"],
                                          now)
    if attempt.withdrawn:
        return _error(410, "this pairing code was withdrawn after too many wrong tries at it "
                           "(someone may have been guessing); make a new one on the parent "
                           "page (Pair a toy)")
    if attempt.retry_after_s is not None:
        wait = math.ceil(attempt.retry_after_s)
        response, status = _error(429, "too many wrong pairing codes from this network; check "
                                       "the code: a correct code still pairs at once",
                                  retry_after_s=wait)
        response.headers["Retry-After"] = str(wait)
        return response, status
    if attempt.paired is None:
        return _error(401, "unknown or expired pairing code")
    device_id, secret, _child_id = attempt.paired
    return jsonify(device_id=device_id, secret=secret), 201


@bp.get("/policy")
def policy() -> Reply:
    if _body_within_limit() is None:
        return _too_large()
    db = get_db()
    try:
        device = authenticate(db, request, get_clock().time())
    except AuthError as error:
        return _unauthenticated(error)
    return jsonify(_policy(db, device.child_id))


@bp.post("/unpair")
def unpair() -> Reply:
    """The toy asks to be forgotten (`teddy device unpair`): its key and what was kept only
    because of it go at once; what it sent about the child stays for the parent to see or
    erase. Signed like every device request, so only the toy itself can ask."""
    signed = _signed_request()
    if not isinstance(signed, SignedRequest):
        return signed
    db, now, device = signed.db, signed.now, signed.device
    if signed.body.strip() not in (b"", b"{}"):
        return _error(422, "unpair takes no body (or {})")
    try:
        with write_transaction(db):
            nonces.consume(db, device, now)
            forget_device(db, device.device_id)
            audit.append(db, at=now, actor=audit.subject_ref("device", device.device_id),
                         action="device.unpair",
                         subject=audit.subject_ref("child", device.child_id))
    except AuthError:
        return _unauthenticated()
    # The key must not stay readable in the WAL once the toy was told it is gone.
    checkpoint_truncate(db)
    return jsonify(unpaired=device.device_id,
                   kept="what the toy sent about the child; a parent sees or erases it on the "
                        "parent page")


@bp.post("/intent")
def intent() -> Reply:
    signed = _signed_request()
    if not isinstance(signed, SignedRequest):
        return signed
    db, now, device, body = signed.db, signed.now, signed.device, signed.body
    if request.mimetype != "application/json":
        return _error(415, "intent messages must be application/json")
    try:
        message = IntentMessage.from_body(body)
    except ValidationError as exc:
        problems = [{"field": ".".join(map(str, e["loc"])), "problem": e["msg"]}
                    for e in exc.errors(include_url=False, include_input=False)]
        return _error(422, "invalid intent message", problems=problems)
    if message.device_id != device.device_id:
        return _unauthenticated()
    return _answer(db, device, message, now)


class _Unanswerable(Exception):
    """Raised inside the transaction to roll it back, nonce and all: a refused query changes
    nothing."""

    def __init__(self, reply: tuple[Response, int]) -> None:
        super().__init__("refused")
        self.reply = reply


@bp.post("/intent/outcome")
def intent_outcome() -> Reply:
    """A toy that sent a message and never heard back (it was restarted in between) asks what
    became of it, by message id alone: the stored reply if the cloud answered it, or 404
    "no_record". Nothing about the child crosses the network again and nothing is acted on
    late; the answer is the stored one only while the consent it served still holds."""
    signed = _signed_request()
    if not isinstance(signed, SignedRequest):
        return signed
    db, now, device = signed.db, signed.now, signed.device
    try:
        message_id = OutcomeQuestion.from_body(signed.body).message_id
    except ValidationError:
        return _error(422, 'expected {"message_id": "<the message\'s 32 hex digits>"}')
    try:
        with write_transaction(db):
            nonces.consume(db, device, now)
            policy = _policy(db, device.child_id)
            found = processed.lookup(db, device, message_id, now)
            if found is None:
                raise _Unanswerable(_error(
                    404, "the cloud holds no answer to this message: it never arrived, or its "
                    "record expired or was erased; nothing was stored now",
                    code="no_record", policy=policy))
            answer, purpose = found
            missing = sorted({"core", purpose} - set(policy["purposes"]))
            if missing:
                raise _Unanswerable(_error(403, "no consent for this purpose",
                                           missing_purposes=missing, policy=policy))
    except AuthError:
        return _unauthenticated()
    except _Unanswerable as refused:
        return refused.reply
    return jsonify(reply=answer.reply, personalised=answer.personalised, policy=policy)


def _answer(db: sqlite_utils.Database, device: AuthenticatedDevice, message: IntentMessage,
            now: float) -> Reply:
    slots = dict(message.slots)
    config = current_app.config["TEDDY"]
    digest = message_digest(config.secret_key, message)
    # One write transaction: the consent read, the nonce, every write and the record of the
    # answer agree, and a revoke committed a moment earlier is always seen (R12). A retry of a
    # message already answered finds that record and writes nothing more (item 12).
    try:
        with write_transaction(db):
            nonces.consume(db, device, now)
            policy = _policy_for_message(db, device.child_id, message)
            consented = set(policy["purposes"])
            missing = sorted(message.purposes_needed() - consented)
            if not missing:
                answer = (processed.recall(db, device, message, digest, now)
                          if config.dedupe_retries else None)
                if answer is None:
                    answer = _act(db, device, message, slots, consented, now)
                    if config.dedupe_retries:
                        processed.remember(db, device, message, digest, answer, now)
                elif answer.personalised and "personalisation" not in consented:
                    # Withdrawn since the first answer: never repeat what it allowed.
                    answer = _compose(message, slots, Profile())
    except AuthError:
        return _unauthenticated()
    except MessageIdReused:
        # Rolled back with everything else: the nonce too, so the request changed nothing.
        return _error(409, "this message_id was already used for a different message; "
                      "nothing was stored", code="message_id_reused")
    if missing:
        # The nonce stays recorded, so this request cannot be replayed once consent is given.
        return _error(403, "no consent for this purpose", missing_purposes=missing,
                      policy=policy)
    return jsonify(reply=answer.reply, personalised=answer.personalised, policy=policy)


def _act(db: sqlite_utils.Database, device: AuthenticatedDevice, message: IntentMessage,
         slots: dict[str, Any], consented: set[str], now: float) -> StoredReply:
    """Store what the consents allow and compose the reply, in the caller's transaction."""
    _store(db, device, message, slots, consented, now)
    profile = (personalisation.load_profile(db, device.child_id, now)
               if "personalisation" in consented else Profile())
    return _compose(message, slots, profile)


def _compose(message: IntentMessage, slots: dict[str, Any], profile: Profile) -> StoredReply:
    return StoredReply(_reply_text(message, slots, profile), not profile.is_empty)


@seam_point("compose_reply")
def _reply_text(message: IntentMessage, slots: dict[str, Any], profile: Profile) -> str:
    return compose_reply(message.intent, slots, profile, seed=message.message_id,
                         locale=message.locale)


_activity_recorded_at: dict[str, float] = {}


def _store(db: sqlite_utils.Database, device: AuthenticatedDevice, message: IntentMessage,
           slots: dict[str, Any], consented: set[str], now: float) -> None:
    """Keep only what a consented purpose asks for (R07, R23)."""
    if "personalisation" in consented:
        facts = personalisation.facts_from_message(message.intent, slots)
        personalisation.remember(db, device.child_id, facts, now)
    if "history" in consented:
        keep_days = data_map().purposes["history"].retention_days
        db.execute(
            "INSERT INTO intent_events (child_id, device_id, intent, slots_json, received_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [device.child_id, device.device_id, message.intent,
             seal_value(db, device.child_id, "intent_events", "slots_json",
                        json.dumps(slots, sort_keys=True), now),
             now, now + keep_days * 86400],
        )
    # Activity is kept to the minute: enough for the inactivity rule (R21). A worker that
    # recorded this device within the minute skips the statements; the WHERE clauses keep
    # the other workers from writing more often.
    if now - _activity_recorded_at.get(device.device_id, float("-inf")) < ACTIVITY_RESOLUTION_S:
        return
    _activity_recorded_at[device.device_id] = now
    db.execute("UPDATE children SET last_active_at = ? WHERE id = ? AND last_active_at <= ?",
               [now, device.child_id, now - ACTIVITY_RESOLUTION_S])
    db.execute("UPDATE devices SET last_seen_at = ? WHERE id = ? "
               "AND (last_seen_at IS NULL OR last_seen_at <= ?)",
               [now, device.device_id, now - ACTIVITY_RESOLUTION_S])
