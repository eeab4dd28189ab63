"""Checks on what the egress observer saw (scenarios/egress.py), not on what a program reports.

- `egress_only_to_cloud`: the toy talks only to its declared cloud route; the cloud talks to
  nobody of its own accord. Any other destination is a disclosure (R10), shown with its bytes.
- `wire_fields_declared`: the bytes the toy sent its cloud, field by field: only declared
  requests and headers, body fields the intent schema declares in their formats, lengths that
  add up, nothing between requests, random ids that are random, and slot values the child
  actually said, and a story topic, song, game or animal one Teddy offers, never the child's
  own words (R03, R06, R34). Under TLS the relay terminates it and these are its plaintext.
- `no_copies_anywhere`: after an erasure or expiry, no file the cloud process wrote or opened
  for writing, wherever it is on disk, holds the child's values or a derived form of them:
  SHA-256/SHA-1/MD5 in hex or base64, hex or base64 of the value (R18, R19).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scenarios.args import arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.context import Family, ScenarioContext
from scenarios.egress import INET, Send, read_trace, shown
from scenarios.processes import EGRESS_DIR
from scenarios.wire import REQUEST_LINE, WireRequest, parse_requests
from teddy.content import offered_choices
from teddy.contracts.intent_message import IntentMessage
from teddy.contracts.signing import HEADER_NONCE

# Headers an HTTP client may add on its own, and Teddy's signed-request headers; every other
# header is a field the intent schema does not declare.
ALLOWED_HEADERS = frozenset({
    "host", "content-type", "content-length", "accept", "accept-encoding", "connection",
    "user-agent", "x-teddy-device", "x-teddy-timestamp", "x-teddy-nonce",
    "x-teddy-signature"})
HEADER_FORMATS = {
    "x-teddy-device": re.compile(r"toy-[a-z0-9]{8,32}"),
    "x-teddy-timestamp": re.compile(r"\d{9,11}"),
    "x-teddy-nonce": re.compile(r"[0-9a-f]{32}"),
    "x-teddy-signature": re.compile(r"[0-9a-f]{64}"),
    "content-type": re.compile(r"application/json(; ?charset=utf-8)?", re.I),
    "accept": re.compile(r"[\w*/.+;=, -]{1,64}"),
    "accept-encoding": re.compile(r"[\w, ;=.*-]{1,64}"),
    "connection": re.compile(r"keep-alive|close", re.I),
    "user-agent": re.compile(r"[\w./ ()-]{1,64}"),
}
# uuid4's version digit and variant digit are not random.
UUID4_FIXED = frozenset({12, 16})
# A hex digit that turns up this much more often than chance would (after a Bonferroni factor
# of 16 digits) is data, not randomness: odds of a false alarm below one in a million.
RANDOMNESS_P = 1e-6
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                "seventeen", "eighteen")


def _sends(ctx: ScenarioContext, who: str, family: Family | None) -> tuple[list[Send], Path]:
    name = "cloud.trace" if who == "cloud" else f"toy-{family.name if family else 'a'}.trace"
    path = ctx.workdir / EGRESS_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"no egress record at {path.name}: the {who} never started "
                                "under the observer")
    return [s for s in read_trace(path).sends if s.protocol in INET], path


@check("egress_only_to_cloud")
def egress_only_to_cloud(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Every connection and datagram the toy opened went to its cloud route; the cloud opened
    none of its own (answers on connections it accepted are not egress) (R10)."""
    who = arg(args, "who", str, "toy")
    family = ctx.family(arg(args, "family", str, "a")) if who == "toy" else None
    sends, _path = _sends(ctx, who, family)
    if who == "toy":
        assert family is not None
        if family.relay is None:
            raise ValueError(f"family {family.name!r} has no toy")
        allowed = {f"{family.relay.host}:{family.relay.port}"}
        outbound = sends
        declared = f"its cloud route {next(iter(allowed))}"
    else:
        allowed = set()
        cloud_end = f":{ctx.cloud.port}"
        outbound = [s for s in sends if not s.local.endswith(cloud_end)]
        declared = "nobody (it only answers)"
    elsewhere = [s for s in outbound if s.destination not in allowed]
    problems = []
    for send in elsewhere[:8]:
        text = f"the {who} sent {send.describe()}"
        if send.data:
            text += f": {shown(send.data)!r}"
        problems.append(text)
    if len(elsewhere) > 8:
        problems.append(f"... and {len(elsewhere) - 8} more sends to "
                        f"{sorted({s.destination for s in elsewhere[8:]})}")
    total = sum(len(s.data) for s in outbound)
    if problems:
        return Observation(False, f"{'; '.join(problems)} (declared: {declared}; R10 forbids "
                                  "disclosure to anyone else)")
    return Observation(True, f"{len(outbound)} sends/connections ({total:,} bytes), all to "
                             f"{declared}")


def _binomial_tail(count: int, trials: int, p: float) -> float:
    """P(X >= count) for X ~ Binomial(trials, p), summed in log space (trials can be large)."""
    def log_term(k: int) -> float:
        return (math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
                + k * math.log(p) + (trials - k) * math.log1p(-p))
    return sum(math.exp(log_term(k)) for k in range(count, trials + 1))


def randomness_problems(name: str, ids: list[str], fixed: frozenset[int] = frozenset()
                        ) -> list[str]:
    """A field declared random (32 hex digits) that carries structure: a hex digit far more
    frequent than chance, or a position that never changes. Data hidden with strong
    encryption looks random and cannot be told apart; anything simpler can."""
    ids = [i for i in ids if re.fullmatch(r"[0-9a-f]{32}", i)]
    if len(ids) < 2:
        return []
    digits = [c for i in ids for pos, c in enumerate(i) if pos not in fixed]
    problems = []
    for digit in "0123456789abcdef":
        count = digits.count(digit)
        odds = 16 * _binomial_tail(count, len(digits), 1 / 16)
        if count > len(digits) / 16 and odds < RANDOMNESS_P:
            problems.append(f"{name}: digit {digit!r} is {count} of {len(digits)} random "
                            f"digits (chance: {len(digits) / 16:.0f}, odds {odds:.1e}) - "
                            f"data hidden in a random id, e.g. {ids[0]!r}")
    if len(ids) >= 4:
        constant = [pos for pos in range(32) if pos not in fixed
                    and len({i[pos] for i in ids}) == 1]
        if len(constant) >= 3:
            problems.append(f"{name}: positions {constant} never change over {len(ids)} "
                            f"messages - not random")
    return problems


def said_words(ctx: ScenarioContext, family: Family) -> set[str]:
    """Every word the child said to this family's toy, in the story (numbers also as digits)."""
    words: set[str] = set()
    for step in ctx.scenario.steps:
        args = getattr(step, "args", {})
        if getattr(step, "action", None) == "say" and args.get("family", "a") == family.name:
            words |= set(re.findall(r"[a-z']+|\d+", str(args.get("text", "")).lower()))
    for turn in family.turns:
        words |= set(re.findall(r"[a-z']+|\d+", str(turn.get("heard", "")).lower()))
    words |= {str(n) for n, word in enumerate(NUMBER_WORDS) if word in words}
    return words


def _slot_problems(request: WireRequest, body: dict[str, Any], said: set[str]) -> list[str]:
    problems = []
    slots = body.get("slots") if isinstance(body.get("slots"), dict) else {}
    offered = offered_choices()
    for name, value in slots.items():
        words = re.findall(r"[a-z']+|\d+", str(value).lower())
        choices = offered.get(name)
        if choices is not None and value not in choices:
            # What the toy could not match to a choice it offers is speech it did not
            # understand; R06 keeps that on the toy, whatever slot it is dressed in.
            problems.append(f"slot {name!r}={value!r} sent to {request.path} is no "
                            f"{name} Teddy offers ({', '.join(sorted(choices))}): the "
                            "child's own words shipped in an allowed slot, where speech the "
                            "toy did not understand must stay on the toy (R06, R03)")
        unsaid = [w for w in words if w not in said]
        if unsaid:
            problems.append(f"slot {name!r}={value!r} was never said by the child, as the "
                            f"story and the toy's own turns tell it ({' '.join(unsaid)!r}): "
                            "derived on the toy from something else, such as the voice, or "
                            "heard and not reported")
        if len(words) >= 4 and not (choices and value in choices):
            problems.append(f"slot {name!r} carries {len(words)} words ({value!r}): "
                            "speech shipped verbatim, not a value")
    return problems


def body_field_problems(body: dict[str, Any]) -> list[str]:
    """Each field of an intent body against the intent schema: a field it does not declare,
    or one longer or wider than its declared format (an id of 200 characters carries far more
    than a random id's 128 bits)."""
    try:
        IntentMessage.model_validate(body)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            where = ".".join(str(part) for part in issue["loc"])
            given = issue.get("input")
            value = shown((given if isinstance(given, str) else json.dumps(given)).encode(),
                          60)
            if issue["type"] == "extra_forbidden":
                problems.append(f"undeclared body field {where!r}: {value}")
            else:
                problems.append(f"body field {where!r} breaks its declared format "
                                f"({issue['msg']}): {value}")
        return problems
    return []


@check("wire_fields_declared")
def wire_fields_declared(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The toy's bytes to its cloud, field by field: declared requests and headers in their
    formats, lengths that add up, no bytes between requests, random ids that are random, and
    slot values the child said, choices among those offered (R03, R06, R34)."""
    family = ctx.family(arg(args, "family", str, "a"))
    data = ctx.window(family, args.get("since"))
    requests = parse_requests(data)
    said = said_words(ctx, family)
    problems: list[str] = []
    ends = 0
    message_ids: list[str] = []
    nonces: list[str] = []
    for request in requests:
        gap = data[ends:request.offset]
        if gap.strip():
            problems.append(f"{len(gap)} bytes outside any request before {request.path}: "
                            f"{shown(gap, 80)!r}")
        head_end = data.find(b"\r\n\r\n", request.offset)
        ends = (head_end + 4 if head_end >= 0 else len(data)) + len(request.body)
        for name, value in request.headers.items():
            if name not in ALLOWED_HEADERS:
                problems.append(f"undeclared header {name!r}: {value[:60]!r}")
            elif name in HEADER_FORMATS and not HEADER_FORMATS[name].fullmatch(value):
                problems.append(f"header {name!r} breaks its format: {value[:60]!r}")
        if request.headers.get("x-teddy-nonce"):
            nonces.append(request.headers["x-teddy-nonce"])
        if request.method == "POST" and request.path == "/api/v1/intent" and request.complete:
            try:
                body = json.loads(request.body)
            except ValueError:
                problems.append("an intent body is not JSON")
                continue
            if not isinstance(body, dict):
                continue
            message_ids.append(str(body.get("message_id", "")))
            problems += body_field_problems(body)
            if body.get("device_id") != request.headers.get("x-teddy-device"):
                problems.append("the body's device_id differs from the signed header's")
            problems += _slot_problems(request, body, said)
    tail = data[ends:]
    if tail.strip() and not REQUEST_LINE.match(tail):
        problems.append(f"{len(tail)} bytes after the last request: {shown(tail, 80)!r}")
    problems += randomness_problems("message_id", message_ids, UUID4_FIXED)
    problems += randomness_problems(HEADER_NONCE, nonces)
    return held_if(problems, f"{len(requests)} requests, {len(message_ids)} intents: only "
                             "declared headers and body fields in their formats, lengths add "
                             "up, nothing between requests, ids random, every slot value was "
                             "said, every choice one Teddy offers")


def derived_forms(value: str) -> dict[str, bytes]:
    """The value and what a program might store instead of it, each as bytes to search for."""
    forms: dict[str, bytes] = {}
    for variant in {value, value.lower()}:
        raw = variant.encode("utf-8")
        forms[f"{variant!r}"] = raw
        forms[f"hex of {variant!r}"] = raw.hex().encode()
        forms[f"base64 of {variant!r}"] = base64.b64encode(raw).rstrip(b"=")
        for algorithm in ("sha256", "sha1", "md5"):
            digest = hashlib.new(algorithm, raw).digest()
            forms[f"{algorithm} of {variant!r} (hex)"] = digest.hex().encode()
            forms[f"{algorithm} of {variant!r} (base64)"] = base64.b64encode(digest).rstrip(b"=")
            forms[f"{algorithm} of {variant!r} (raw)"] = digest
    return forms


def find_derived(paths: list[Path], values: list[str], plain: bool = True) -> list[str]:
    """`file: form` for every value or derived form found in the files' bytes."""
    wanted = {name: form for value in values for name, form in derived_forms(value).items()
              if plain or " of " in name}
    found = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        lowered = data.lower()
        for name, form in wanted.items():
            text_form = "base64" not in name and "(raw)" not in name
            haystack = lowered if text_form else data
            needle = form.lower() if text_form else form
            if needle and needle in haystack:
                found.append(f"{path}: {name}")
    return found


@check("no_copies_anywhere")
def no_copies_anywhere(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """No file the cloud's processes opened for writing, anywhere on disk, holds the child's
    values or their hashes and encodings (R18, R19)."""
    values = str_list(args, "values", [])
    # A toy's id may stay in plain where the cloud keeps refusing it (R33); a hash or encoding
    # of it is a pseudonym that still links the toy to what is stored beside it.
    devices = [d for d in (ctx.family(n).device_id for n in str_list(args, "devices_of", []))
               if d]
    if not values and not devices:
        raise ValueError("no values to look for (values, devices_of)")
    _sends(ctx, "cloud", None)  # the record exists: the cloud ran under the observer
    trace = read_trace(ctx.workdir / EGRESS_DIR / "cloud.trace")
    egress = ctx.workdir / EGRESS_DIR
    files = sorted(p for p in trace.written_files
                   if p.is_file() and egress not in p.parents and not _code_cache(p))
    hits = find_derived(files, values) + find_derived(files, devices, plain=False)
    outside = [p for p in files if ctx.workdir not in p.parents]
    size = sum(p.stat().st_size for p in files)
    return held_if([f"still in {hit}" for hit in hits],
                   f"none of {len(values) + len(devices)} values (plain, hex, base64, "
                   f"SHA-256/SHA-1/MD5) in the {len(files)} files the cloud wrote ({size:,} bytes; "
                   f"{len(outside)} outside the scenario folder)")


def _code_cache(path: Path) -> bool:
    return path.suffix == ".pyc" or "__pycache__" in path.parts
