"""R34: nothing derived from the child's voice leaves the toy, even hidden in allowed fields.

A content scan cannot see a pitch hidden in a random-looking identifier, so this check asks a
question only a voice-derived field would answer "yes" to: the same words in two voices, heard
alternately (A, B, A, B...), must produce messages that differ only by chance. A field, or a run
of characters inside one, that repeats exactly whenever the same voice is heard and differs
between the voices is computed from the voice. Alternating the clips makes timestamps and
counters harmless: they cannot be equal within a voice yet differ between voices.
"""

from __future__ import annotations

import json
from typing import Any

from scenarios.args import ArgumentError, arg
from scenarios.checks import Observation, check, held_if
from scenarios.context import ScenarioContext

# A run this long, constant within each voice and different between them, has odds of about
# 16^-6 per position of arising by chance in random hex (2 hears per voice).
MIN_KEYED_RUN = 3
# Shorter values (numbers, words, flags) are compared whole: any difference that follows the
# voice counts.
MIN_IDENTIFIER_CHARS = 16


def _keyed_runs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """(start, length) of runs that repeat within each voice and differ between voices."""
    length = len(a[0])
    if length < MIN_IDENTIFIER_CHARS or any(len(v) != length for v in a + b):
        return [(0, length)] if len(set(a)) == 1 and len(set(b)) == 1 and a[0] != b[0] else []
    keyed = [len({v[i] for v in a}) == 1 and len({v[i] for v in b}) == 1 and a[0][i] != b[0][i]
             for i in range(length)]
    runs, start = [], None
    for i, flag in enumerate([*keyed, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= MIN_KEYED_RUN:
                runs.append((start, i - start))
            start = None
    return runs


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@check("voice_independent")
def voice_independent(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The toy's messages for the same words in two alternating voices carry no field that
    follows the voice (R34)."""
    family = ctx.family(arg(args, "family", str, "a"))
    heard = [a for a in family.answers if "audio_bytes" in a]
    if len(heard) < 4:
        raise ArgumentError("hear the same words in two voices alternately, twice each")
    bodies = []
    for answer in heard[-4:]:
        sent = answer["turn"]["sent_body"]
        if sent is None:
            raise ArgumentError("a hear sent nothing; the check needs consented, sent turns")
        bodies.append(json.loads(sent))
    voice_a, voice_b = bodies[0::2], bodies[1::2]
    if len({(b["intent"], json.dumps(b.get("slots"), sort_keys=True)) for b in bodies}) != 1:
        raise ArgumentError("the two voices were heard as different requests; pick words both "
                            "voices are recognised alike")
    problems = []
    for field in sorted(set().union(*bodies)):
        first = [_text(body.get(field)) for body in voice_a]
        second = [_text(body.get(field)) for body in voice_b]
        for start, length in _keyed_runs(first, second):
            end = start + length
            problems.append(f"{field}[{start}:{end}] follows the voice: "
                            f"{first[0][start:end]!r} for one voice, "
                            f"{second[0][start:end]!r} for the other")
    return held_if(problems, f"{len(bodies)} messages for {bodies[0]['intent']!r} in two "
                             f"voices: every field is the same for both voices or varies by "
                             f"chance ({', '.join(sorted(bodies[0]))})")
