"""What the notice, the consent pages and the dashboard say about keeping data, from one place.

Periods come from the data map (per purpose and per table) and from configuration (how long
an unused child record lasts); the operator and contact come from configuration. Kinds of data
are named in a parent's words, never by table. `disagreements` lists every place where a
purpose's own wording states a period other than the one the data map enforces, so a test can
fail the moment the two drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloud.config import CloudConfig
from teddy.contracts.data_map import DataMap

PROCESSED_KEEP_MINUTES = 10  # cloud.device_api.processed.KEEP_S, in a parent's words

# Every table in the data map, in a parent's words. A new table without a name here fails
# the tests, so the notice can never fall back to an internal name.
RECORD_NAMES = {
    "parents": "Your account: e-mail address and password hash",
    "children": "Your child's record: first name if given, age band, country",
    "devices": "Paired toys and their keys",
    "pairing_codes": "Pairing codes not yet used",
    "consents": "Your consent decisions",
    "profile_facts": "What Teddy remembers for personalisation",
    "intent_events": "What your child asked for (the history)",
    "seen_nonces": "One-time request numbers that stop replayed requests",
    "audit_log": "The accountability log of consent changes and deletions",
    "login_attempts": "Failed sign-ins, as keyed hashes (to slow down guessing)",
    "verification_requests": "Parent checks still waiting for you",
    "parent_outbox": "Messages we sent you",
    "parent_sessions": "Signed-in sessions",
    "parent_tokens": "One-time links for confirming sign-up and resetting a password",
    "pairing_failures": "Counts of wrong pairing codes (to slow down guessing)",
    "erasure_jobs": "Progress of deletions still being finished, and their receipts",
    "schema_migrations": "The database layout's version (no personal data)",
    "server_secrets": "The service's own signing key (no personal data)",
    "leases": "Which server is running a clean-up right now (no personal data)",
    "processed_messages": "The toy's last answers, sealed, so a repeated request is answered once",
}
WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "seven": 7, "thirty": 30, "ninety": 90}
_PERIOD = re.compile(r"\b(\d+|one|two|three|seven|thirty|ninety)\s+(day|week|month|year)s?\b",
                     re.IGNORECASE)
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


@dataclass(frozen=True)
class KeptRecord:
    name: str
    purpose_title: str
    kept: str
    # Why it is kept, where the data map says so (`DataMap.kept_because`): the same words the
    # dashboard shows beside the same records.
    why: str | None = None


def days_words(n: int) -> str:
    if n == 0:
        return "not stored"
    if n == 1:
        return "1 day"
    if n % 365 == 0:
        years = n // 365
        return f"{years} year{'s' if years != 1 else ''}"
    return f"{n} days"


def kept_for(table: str, dmap: DataMap, config: CloudConfig) -> str:
    """How long the purge really keeps a table's records, in words."""
    days = dmap.retention_days(table)
    if table == "parents":
        return "until you close your account"
    if table == "children":
        return (f"until {days_words(config.inactive_profile_days)} pass without the toy being "
                "used, or until you delete it")
    if table == "devices":
        return f"{days_words(days)} after the toy was last heard from, or until you unpair it"
    if table == "processed_messages":
        return f"{PROCESSED_KEEP_MINUTES} minutes (at most {days_words(days)})"
    if table == "consents":
        return f"while on; {days_words(days)} after you turn it off, as proof"
    return days_words(days)


def kept_records(dmap: DataMap, config: CloudConfig) -> list[KeptRecord]:
    return [KeptRecord(RECORD_NAMES.get(table, "Other records"),
                       dmap.purposes[spec["retention"]["purpose"]].title,
                       kept_for(table, dmap, config), dmap.kept_because(table))
            for table, spec in dmap.tables.items()]


def stated_days(text: str) -> set[int]:
    """Every period a piece of wording states, in days ("30 days", "one day", "1 year")."""
    found = set()
    for number, unit in _PERIOD.findall(text):
        count = int(number) if number.isdigit() else WORD_NUMBERS[number.lower()]
        found.add(count * _UNIT_DAYS[unit.lower()])
    return found


def disagreements(dmap: DataMap) -> list[str]:
    """Purposes whose wording states a period the data map does not keep them for."""
    problems = []
    for name, purpose in dmap.purposes.items():
        wrong = stated_days(purpose.notice) - {purpose.retention_days}
        if wrong:
            problems.append(f"{name}: the wording says {sorted(wrong)} days, the data map "
                            f"keeps it {purpose.retention_days} days")
    return problems
