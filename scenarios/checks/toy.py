"""Checks on the toy itself: what it answered, what it kept, its policy and its egress ledger."""

from __future__ import annotations

from typing import Any

from device.privacy.ledger import EgressLedger
from device.state import ToyState
from scenarios.args import ArgumentError, arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.context import ScenarioContext
from scenarios.wire import parse_requests
from teddy.audio_check import find_audio_signatures

TURN_FIELDS = ("intent", "answered_by", "personalised", "status")


@check("turn")
def turn(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """One of the toy's turns (the last by default) looks as the rule demands."""
    family = ctx.family(arg(args, "family", str, "a"))
    turns = family.turns
    index = arg(args, "index", int, -1)
    if not turns or not -len(turns) <= index < len(turns):
        raise ArgumentError(f"family {family.name!r} has no turn {index}")
    seen = turns[index]
    problems: list[str] = []
    for name in TURN_FIELDS:
        if name in args and seen[name] != args[name]:
            problems.append(f"{name} was {seen[name]!r}, expected {args[name]!r}")
    if "sent" in args and (seen["sent_body"] is not None) != arg(args, "sent", bool):
        problems.append(f"sent {seen['sent_body']!r}, expected sent={args['sent']}")
    reply = seen["reply"].lower()
    problems += [f"reply lacks {text!r}" for text in str_list(args, "reply_contains", [])
                 if text.lower() not in reply]
    problems += [f"reply contains {text!r}" for text in str_list(args, "reply_lacks", [])
                 if text.lower() in reply]
    problems += [f"{slot!r} was not kept on the toy"
                 for slot in str_list(args, "dropped", []) if slot not in seen["dropped_slots"]]
    summary = (f"heard {seen['heard']!r} -> {seen['intent']}, answered by {seen['answered_by']}"
               f" ({seen['reason']}); sent {len(seen['sent_body'] or '')} bytes; "
               f"reply {seen['reply'][:80]!r}")
    return Observation(not problems, "; ".join(problems) + f" [{summary}]" if problems
                       else summary)


@check("toy_kept_no_audio")
def toy_kept_no_audio(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The clip's buffer was wiped after recognition and no audio is on the toy's disk (R02)."""
    family = ctx.family(arg(args, "family", str, "a"))
    heard = family.last_hear
    if heard is None:
        raise ArgumentError(f"family {family.name!r} has not heard a clip yet")
    problems: list[str] = []
    if heard["buffer_bytes_after"] or heard["buffer_nonzero_after"]:
        problems.append(f"{heard['buffer_bytes_after']} bytes of audio still in the buffer")
    files = sorted(p for p in (family.state_dir.rglob("*") if family.state_dir else [])
                   if p.is_file())
    for path in files:
        found = find_audio_signatures(path.read_bytes())
        if found or path.suffix.lower() in (".wav", ".pcm", ".raw", ".ogg", ".flac"):
            problems.append(f"{path.name} on the toy's disk looks like audio ({found})")
    return held_if(problems, f"{heard['audio_bytes']:,} bytes of speech wiped right after "
                             f"recognition; {len(files)} files on the toy, none holds audio")


@check("toy_policy")
def toy_policy(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The consent policy the toy applies (asked afresh unless refresh: false)."""
    family = ctx.family(arg(args, "family", str, "a"))
    toy = family.require_toy()
    command = "refresh_policy" if arg(args, "refresh", bool, True) else "status"
    policy = toy.call(command)["policy"]
    purposes = set(policy["purposes"])
    problems: list[str] = []
    if "purposes" in args and purposes != set(str_list(args, "purposes")):
        problems.append(f"purposes {sorted(purposes)}, expected {sorted(args['purposes'])}")
    problems += [f"{p!r} missing" for p in str_list(args, "includes", []) if p not in purposes]
    problems += [f"{p!r} is on" for p in str_list(args, "excludes", []) if p in purposes]
    return held_if(problems, f"toy policy v{policy['version']}: "
                             f"{sorted(purposes) or 'nothing (deny all)'}")


@check("ledger_matches_wire")
def ledger_matches_wire(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The toy's egress ledger lists exactly the requests seen on the wire, in order."""
    family = ctx.family(arg(args, "family", str, "a"))
    if family.state_dir is None:
        raise ArgumentError(f"family {family.name!r} has no toy")
    # The toy's own reader: it pairs each request with the answer recorded after it.
    ledger = [(e.method, e.path) for e in EgressLedger(ToyState(family.state_dir)).entries()]
    wire = [(r.method, r.path) for r in parse_requests(family.captured())]
    problems: list[str] = []
    if ledger != wire:
        problems.append(f"ledger has {len(ledger)} requests, the wire {len(wire)}; first "
                        f"difference: {_first_difference(ledger, wire)}")
    return held_if(problems, f"all {len(wire)} requests on the wire are in the toy's ledger, "
                             "which the parent can review (`teddy device ledger`)")


def _first_difference(left: list[tuple[str, str]], right: list[tuple[str, str]]) -> str:
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return f"#{index}: ledger {a} vs wire {b}"
    longer, name = (left, "ledger") if len(left) > len(right) else (right, "wire")
    return f"#{min(len(left), len(right))}: only in the {name}: " \
           f"{longer[min(len(left), len(right))]}"
