"""Checks on the bytes the toy wrote on its only route to the cloud, as the relay recorded them."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from scenarios.args import arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.context import Family, ScenarioContext
from scenarios.wire import WireRequest, parse_requests
from teddy.audio_check import find_audio_signatures
from teddy.contracts.data_map import data_map
from teddy.contracts.intent_message import (
    MAX_BODY_BYTES,
    OUTCOME_PATH,
    IntentMessage,
    OutcomeQuestion,
)

INTENT_PATH = "/api/v1/intent"
# What an evaluator expects a toy to send before anyone consented: pairing and asking the
# consent policy, both carrying nothing about the child.
PRE_CONSENT_PATHS = frozenset({"/api/v1/pair", "/api/v1/policy"})
# Asking the cloud to forget the toy (`teddy device unpair`): allowed, and never with a body.
UNPAIR_PATH = "/api/v1/unpair"
TLS_HANDSHAKE = re.compile(rb"\x16\x03[\x00-\x04]")


def _window(ctx: ScenarioContext, args: dict[str, Any]) -> tuple[Family, bytes]:
    family = ctx.family(arg(args, "family", str, "a"))
    return family, ctx.window(family, args.get("since"))


def _slots(request: WireRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except ValueError:
        return {}
    slots = body.get("slots") if isinstance(body, dict) else None
    return slots if isinstance(slots, dict) else {}


@check("no_audio_on_wire")
def no_audio_on_wire(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """No audio container, audio media type, long base64 or binary run in the capture (R01)."""
    _family, data = _window(ctx, args)
    found = find_audio_signatures(data)
    requests = parse_requests(data)
    return held_if([f"{name} found on the wire" for name in found],
                   f"{len(data):,} bytes in {len(requests)} requests, no audio signature")


@check("intents_match_schema")
def intents_match_schema(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Every request is an allowed one and every intent body is a valid, small message (R03)."""
    _family, data = _window(ctx, args)
    requests = parse_requests(data)
    problems = request_problems(requests)
    intents = sum(r.path == INTENT_PATH for r in requests)
    biggest = max((len(r.body) for r in requests if r.path == INTENT_PATH), default=0)
    return held_if(problems, f"{len(requests)} requests, {intents} intents, all valid; largest "
                             f"intent body {biggest} bytes (limit {MAX_BODY_BYTES})")


def request_problems(requests: list[WireRequest]) -> list[str]:
    """What is wrong with each request a toy sent: a path it has no business calling, an
    unpair with a body, an intent that is not a small, valid message, a question about a
    message's outcome carrying anything but the message id."""
    problems: list[str] = []
    for request in requests:
        if request.path not in PRE_CONSENT_PATHS | {INTENT_PATH, UNPAIR_PATH, OUTCOME_PATH}:
            problems.append(f"{request.method} {request.path} is not an allowed request")
        elif request.path == UNPAIR_PATH and request.body.strip() not in (b"", b"{}"):
            problems.append(f"an unpair request carried a {len(request.body)}-byte body")
        elif request.path == INTENT_PATH:
            problems += _intent_problems(request)
        elif request.path == OUTCOME_PATH and not _is_outcome_question(request):
            problems.append("a question about a message's outcome carried more than its id")
    return problems


def _is_outcome_question(request: WireRequest) -> bool:
    try:
        OutcomeQuestion.from_body(request.body)
    except ValidationError:
        return False
    return request.complete


def _intent_problems(request: WireRequest) -> list[str]:
    problems: list[str] = []
    if request.content_type != "application/json":
        problems.append(f"intent sent as {request.content_type or 'no content type'}")
    if len(request.body) > MAX_BODY_BYTES or not request.complete:
        problems.append(f"intent body of {request.headers.get('content-length')} bytes "
                        f"(limit {MAX_BODY_BYTES})")
        return problems
    try:
        IntentMessage.from_body(request.body)
    except ValidationError as exc:
        problems.append(f"intent body breaks the schema: {exc.errors()[0]['msg']}")
    return problems


@check("no_personal_data_on_wire")
def no_personal_data_on_wire(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """No personal slot and none of the given values crossed the wire (R04, R23)."""
    _family, data = _window(ctx, args)
    personal = [name for name, rule in data_map().slots.items() if rule.is_personal]
    slots = str_list(args, "slots", personal)
    values = str_list(args, "values", [])
    problems: list[str] = []
    for request in parse_requests(data):
        problems += [f"slot {name!r} sent to {request.path}" for name in _slots(request)
                     if name in slots]
    lowered = data.lower()
    problems += [f"{value!r} appears on the wire" for value in values
                 if value.lower().encode() in lowered]
    return held_if(problems, f"none of slots {slots} and none of {values} in "
                             f"{len(data):,} captured bytes")


@check("nothing_about_child_sent")
def nothing_about_child_sent(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Only pairing and policy requests, no intent, no body about the child (R05)."""
    _family, data = _window(ctx, args)
    requests = parse_requests(data)
    problems = [f"{r.method} {r.path} ({len(r.body)} body bytes)" for r in requests
                if r.path not in PRE_CONSENT_PATHS]
    paths = sorted({r.path for r in requests})
    return held_if([f"sent {p}" for p in problems],
                   f"{len(requests)} requests, only {paths or 'none'}: nothing about the child")


@check("wire_encrypted")
def wire_encrypted(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The toy's traffic is TLS: a handshake, and no readable HTTP or message text (R26).
    Read as it crossed the wire, before the relay (when it terminates TLS) decrypts it."""
    family = ctx.family(arg(args, "family", str, "a"))
    data = ctx.window(family, args.get("since"), on_wire=True)
    problems = []
    if not data:
        problems.append("nothing was captured")
    if data and not TLS_HANDSHAKE.match(data):
        problems.append("the capture does not start with a TLS handshake")
    plain = [token for token in (b"HTTP/1.1", b"/api/v1/", b"X-Teddy-", b'"intent"')
             if token in data]
    problems += [f"plain text {token.decode()!r} readable on the wire" for token in plain]
    return held_if(problems, f"{len(data):,} bytes, TLS from the first byte, no readable HTTP")


@check("intent_count")
def intent_count(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Exactly this many intent messages crossed the wire: nothing queued, nothing replayed."""
    _family, data = _window(ctx, args)
    sent = [r for r in parse_requests(data) if r.path == INTENT_PATH]
    expected = arg(args, "count", int)
    intents = [json.loads(r.body).get("intent") if r.complete else "?" for r in sent]
    return Observation(len(sent) == expected,
                       f"{len(sent)} intents on the wire {intents} (expected {expected})")
