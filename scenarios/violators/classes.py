"""Violation classes: what kind of wrong each deliberately broken toy or cloud does.

Issue 25 asks for detection per class, not per planted bug: a class is caught when every
toy or cloud of it that ran was caught by the catalogue. Each variant (scenarios/variants) and
violator (scenarios/violators) belongs to exactly one class; a test holds that none is left
out. What a violator does is read, in its author's words, from its module's docstring, without
importing it (a violator patches the cloud when imported for real).
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class ViolationClass:
    name: str
    title: str
    variants: tuple[str, ...]


CLASSES: tuple[ViolationClass, ...] = (
    ViolationClass("third-party-egress", "Traffic to anyone but the declared cloud",
                   ("analytics", "forwards_intents")),
    ViolationClass("audio-or-personal-data-on-the-wire",
                   "Audio, or personal details without their consent, sent to the cloud",
                   ("leaky_audio", "leaky_name")),
    ViolationClass("hidden-in-allowed-fields",
                   "Data hidden inside schema-valid fields (a transcript in a slot, speech the "
                   "toy did not understand sent as a story topic, a value derived from the "
                   "voice, an id carrying data)",
                   ("shapes_slots", "unknown_as_topic", "pitch_leak", "tls_hides_in_fields")),
    ViolationClass("copies-erasure-misses",
                   "Copies kept where erasure does not reach (side stores, logs, flags, keys, "
                   "plain copies beside sealed ones)",
                   ("side_database", "logs_requests", "flag_delete", "keeps_key",
                    "plaintext_beside_sealed")),
    ViolationClass("retention-overrun", "Records kept past their retention, by days or minutes",
                   ("retention_grace", "keeps_data")),
    ViolationClass("withdrawal-not-at-once",
                   "A withdrawal that does not stop everything at once, on every path "
                   "(cached consent, data kept, consent judged by the toy's word or clock)",
                   ("policy_cache", "revoke_keeps_data", "trusts_toy_consent",
                    "consent_at_sent_time")),
    ViolationClass("withdrawn-data-used-again",
                   "Withdrawn or deleted data sent or used again (offline queues, cached names, "
                   "re-pairing, history shaping replies)",
                   ("offline_queue", "cached_name", "history_shapes_replies")),
    ViolationClass("verification-verifies-nobody",
                   "A parent verification method that accepts a wrong answer",
                   ("card_check_always_passes", "verification_sandbox")),
    ViolationClass("export-leaves-data-out", "An export that leaves out data held about the child",
                   ("export_omits_tables",)),
    ViolationClass("credentials-outlive-the-child",
                   "Credentials that keep working after the child or toy is gone",
                   ("keeps_credentials",)),
)


def class_of(variant: str) -> ViolationClass | None:
    return next((c for c in CLASSES if variant in c.variants), None)


@cache
def what_it_does(module: str) -> str:
    """The first paragraph of a variant module's docstring, read from its source file."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as source:
        doc = ast.get_docstring(ast.parse(source.read())) or ""
    first = doc.split("\n\n")[0]
    return " ".join(first.removeprefix("VIOLATOR:").removeprefix("NEGATIVE CONTROL:").split())
