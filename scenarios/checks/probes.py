"""Active probes: signed requests an evaluator sends to the cloud with a toy's own keys.

They go straight to the cloud, not through the toy's relay, so the toy's capture stays the
toy's. Each probe checks the status code and that a refused request changed nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from scenarios.args import ArgumentError, arg
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import visible_dump
from scenarios.context import Family, ScenarioContext
from teddy.contracts import signing
from teddy.contracts.intent_message import MAX_BODY_BYTES

INTENT_PATH = "/api/v1/intent"
POLICY_PATH = "/api/v1/policy"
NONCES = "seen_nonces"


@dataclass(frozen=True)
class Keys:
    device_id: str
    secret: str


def keys_of(family: Family) -> Keys:
    path = family.state_dir / "credentials.json" if family.state_dir else None
    if path is None or not path.exists():
        raise ArgumentError(f"family {family.name!r} has no paired toy")
    raw = json.loads(path.read_text("utf-8"))
    return Keys(raw["device_id"], raw["secret"])


class Prober:
    def __init__(self, ctx: ScenarioContext) -> None:
        self.ctx = ctx
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(ctx.cloud.ca_file) if ctx.cloud.ca_file else True

    def now(self) -> float:
        # The cloud's clock, which a scenario may have moved on.
        return time.time() + self.ctx.cloud.clock_offset()

    def message(self, keys: Keys, intent: str = "greet", slots: dict[str, Any] | None = None,
                **fields: Any) -> bytes:
        body = {"message_id": uuid.uuid4().hex, "device_id": keys.device_id,
                "sent_at": int(time.time()), "locale": "en", "intent": intent,
                "slots": slots or {}, "policy_version": 0, **fields}
        return json.dumps(body).encode()

    def headers(self, keys: Keys, method: str, path: str, body: bytes,
                content_type: str = "application/json", now: float | None = None
                ) -> dict[str, str]:
        return signing.sign_headers(keys.device_id, keys.secret, method, path, body,
                                    self.now() if now is None else now,
                                    content_type if body else "")

    def send(self, method: str, path: str, body: bytes,
             headers: dict[str, str]) -> requests.Response:
        return self.session.request(method, self.ctx.cloud.url + path, data=body,
                                    headers=headers, timeout=10)


def _clear_error(response: requests.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, str) and error else None


def _reply(response: requests.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:100]
    return str(payload.get("reply", "")) if isinstance(payload, dict) else ""


@check("probe_intent")
def probe_intent(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Send one signed intent with the toy's keys; expect a status; a refusal stores nothing."""
    family = ctx.family(arg(args, "family", str, "a"))
    prober = Prober(ctx)
    keys = keys_of(family)
    intent = arg(args, "intent", str, "greet")
    slots = arg(args, "slots", dict, {})
    expected = arg(args, "status", int)
    # A toy's own claims (a consent header, an extra body field) must change nothing (R31).
    claims = {str(k): str(v) for k, v in arg(args, "headers", dict, {}).items()}
    fields = arg(args, "fields", dict, {})
    composed_at = arg(args, "composed_at", str, "")
    if composed_at:
        # A message the toy composed at that mark (queued while offline) arriving now: the
        # consent that counts is the one in force when it arrives (R12, R31).
        at = ctx.mark_times.get(composed_at)
        if at is None:
            raise ArgumentError(f"no mark named {composed_at!r} before this check")
        fields = {**fields, "sent_at": int(at)}
    before = visible_dump(ctx, skip=(NONCES,))
    body = prober.message(keys, intent, slots, **fields)
    response = prober.send("POST", INTENT_PATH, body,
                           {**prober.headers(keys, "POST", INTENT_PATH, body), **claims})
    after = visible_dump(ctx, skip=(NONCES,))
    problems = []
    if response.status_code != expected:
        problems.append(f"answered {response.status_code}, expected {expected}")
    if (response.status_code != 200 or expected != 200) and before != after:
        changed = sorted(t for t in (after or {}) if (before or {}).get(t) != (after or {})[t])
        problems.append(f"a request that should be refused changed {changed}")
    detail = _clear_error(response) or _reply(response)
    claimed = f" claiming {claims or fields}" if claims or fields else ""
    if composed_at:
        claimed += f" (composed at mark {composed_at!r})"
    return held_if(problems, f"{intent} {slots}{claimed} -> {response.status_code} "
                             f"({str(detail)[:100]}); nothing stored")


def _battery(prober: Prober, keys: Keys) -> list[tuple[str, set[int], Callable[[], Any]]]:
    def post(body: bytes, content_type: str = "application/json", signer: Keys = keys,
             now: float | None = None) -> requests.Response:
        return prober.send("POST", INTENT_PATH, body,
                           prober.headers(signer, "POST", INTENT_PATH, body, content_type, now))

    forged = Keys(keys.device_id, "0" * 64)
    stranger = Keys("toy-" + "0" * 16, keys.secret)
    return [
        ("oversized body", {413}, lambda: post(prober.message(keys, pad="x" * MAX_BODY_BYTES))),
        ("malformed JSON", {400, 422}, lambda: post(b'{"intent": "greet",')),
        ("unknown field", {422}, lambda: post(prober.message(keys, transcript="hello teddy"))),
        ("injection in a slot", {422}, lambda: post(prober.message(
            keys, "tell_story", {"topic": "x'); DROP TABLE children; --"}))),
        ("slot that never leaves", {422}, lambda: post(prober.message(
            keys, "greet", {"address": "oak street"}))),
        ("wrong content type", {415}, lambda: post(prober.message(keys), "text/plain")),
        ("audio content", {413, 415, 422}, lambda: post(b"RIFF\x24\x00\x00\x00WAVEfmt ",
                                                        "audio/wav")),
        ("forged signature", {401}, lambda: post(prober.message(keys), signer=forged)),
        ("unknown device", {401}, lambda: post(prober.message(stranger), signer=stranger)),
        ("stale timestamp", {401}, lambda: post(prober.message(keys),
                                                now=prober.now() - 3600)),
        ("unsigned", {401}, lambda: prober.send("POST", INTENT_PATH, prober.message(keys),
                                                {"Content-Type": "application/json"})),
    ]


@check("bad_input_refused")
def bad_input_refused(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Malformed, oversized, unknown-field, injected, forged, stale and replayed requests each
    get a clear 4xx and leave every table, nonces included, exactly as it was (R28)."""
    family = ctx.family(arg(args, "family", str, "a"))
    prober = Prober(ctx)
    keys = keys_of(family)
    problems: list[str] = []
    seen: list[str] = []
    cases = _battery(prober, keys)
    for name, allowed, send in cases:
        before = visible_dump(ctx)
        response = send()
        after = visible_dump(ctx)
        seen.append(f"{name} {response.status_code}")
        if response.status_code not in allowed:
            problems.append(f"{name}: {response.status_code}, expected {sorted(allowed)}")
        if not _clear_error(response):
            problems.append(f"{name}: no error message in the answer")
        if before != after:
            changed = sorted(t for t in after or {} if (before or {}).get(t) != after[t])
            problems.append(f"{name}: changed {changed}")
    # A replay: the same signed bytes twice. The first may be acted on; the second must not.
    body = prober.message(keys)
    headers = prober.headers(keys, "POST", INTENT_PATH, body)
    first = prober.send("POST", INTENT_PATH, body, headers)
    before = visible_dump(ctx)
    replay = prober.send("POST", INTENT_PATH, body, headers)
    after = visible_dump(ctx)
    seen.append(f"replay {first.status_code}->{replay.status_code}")
    if replay.status_code != 401:
        problems.append(f"replay answered {replay.status_code}, expected 401")
    if before != after:
        problems.append("the replay changed the database")
    return held_if(problems, f"{len(cases) + 1} bad requests refused with clear errors, "
                             f"database unchanged: {', '.join(seen)}")


@check("other_toy_denied")
def other_toy_denied(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """One toy's keys cannot act as, or read the policy of, another toy (R26)."""
    intruder = keys_of(ctx.family(arg(args, "family", str)))
    victim = keys_of(ctx.family(arg(args, "victim", str)))
    prober = Prober(ctx)
    posing = Keys(victim.device_id, intruder.secret)
    before = visible_dump(ctx)
    body = prober.message(victim)
    as_victim = prober.send("POST", INTENT_PATH, body,
                            prober.headers(posing, "POST", INTENT_PATH, body))
    policy = prober.send("GET", POLICY_PATH, b"", prober.headers(posing, "GET", POLICY_PATH, b""))
    body = prober.message(victim)
    mixed = prober.send("POST", INTENT_PATH, body,
                        prober.headers(intruder, "POST", INTENT_PATH, body))
    after = visible_dump(ctx)
    statuses = [as_victim.status_code, policy.status_code, mixed.status_code]
    problems = [f"attempt {n} answered {s}" for n, s in enumerate(statuses, 1) if s != 401]
    if before != after:
        problems.append("the attempts changed the database")
    return held_if(problems, f"posing as another toy, reading its policy and sending in its "
                             f"name all refused {statuses}; nothing changed")
