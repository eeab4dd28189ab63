"""The rulebook's rule IDs and titles, and which check kinds can be run against them.

The full rule text lives in ../shared/PRIVACY_RULES.md next to the repository; it is read at
run time when present so reports quote the rulebook itself. The IDs and short titles below
keep the runner working where that file is absent (for example a bare CI checkout).
"""

from __future__ import annotations

import contextlib
import os
import re
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RULES_FILE_ENV = "TEDDY_RULES_FILE"

BUILTIN_TITLES: dict[str, str] = {
    "R01": "No audio leaves the toy",
    "R02": "The audio buffer is dropped after recognition and never written to disk",
    "R03": "Every message the toy sends matches an allow-listed schema",
    "R04": "Personal slots leave only with the consented purpose; location never",
    "R05": "Before any consent the toy works offline-only; default deny",
    "R06": "Out-of-domain speech is rejected on the toy",
    "R07": "The cloud refuses (403) child data without verified consent for its purpose",
    "R08": "Each consent record stores who, when, notice version, purposes and method",
    "R09": "Email-plus and text-plus never switch on third-party disclosure",
    "R10": "Third-party disclosure is its own consent, off by default",
    "R11": "A new notice that adds a category or purpose suspends it until re-consent",
    "R12": "Revoking consent takes effect at once",
    "R13": "The consent age threshold comes from configuration per jurisdiction",
    "R14": "Declining is as easy and visible as accepting; no pre-ticked boxes",
    "R15": "Every stored field has a declared category, purpose and finite retention",
    "R16": "When the clock passes a record's retention period, the record is gone",
    "R17": "The written retention policy is shown to parents on the notice page",
    "R18": "A deletion request removes the child's data everywhere",
    "R19": "After deletion a canary is absent from the raw database bytes and backups",
    "R20": "Deletion completes well inside a month, with a receipt holding no personal data",
    "R21": "Profiles inactive for a configured time are deleted automatically",
    "R22": "A parent can see and export every value held about their child",
    "R23": "Personalisation and profiling are off until a parent turns them on",
    "R24": "The toy signals when it is listening and when history can be reviewed",
    "R25": "A fresh install and an update both start at the highest privacy settings",
    "R26": "TLS, per-device authentication, and no access to another family's data",
    "R27": "Consent changes and deletions are in an append-only audit log without child content",
    "R28": "Bad input gets a clear 4xx error and changes nothing",
}
RULE_IDS: tuple[str, ...] = tuple(BUILTIN_TITLES)
_RULE_LINE = re.compile(r"^- (R\d\d) (.*)$")


def rules_file() -> Path | None:
    configured = os.environ.get(RULES_FILE_ENV)
    candidates = [Path(configured)] if configured else []
    candidates.append(REPO_ROOT.parent / "shared" / "PRIVACY_RULES.md")
    return next((path for path in candidates if path.is_file()), None)


def parse_rulebook(text: str) -> dict[str, str]:
    """Rule ID -> its full text, joining the indented continuation lines."""
    rules: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _RULE_LINE.match(line)
        if match:
            current = match[1]
            rules[current] = match[2].strip()
        elif current and line.startswith("  ") and line.strip():
            rules[current] += " " + line.strip()
        else:
            current = None
    return rules


@cache
def rule_texts() -> dict[str, str]:
    """Every rule's text: from the rulebook when it can be read, else the built-in titles."""
    texts = dict(BUILTIN_TITLES)
    path = rules_file()
    if path is not None:
        with contextlib.suppress(OSError):
            parsed = parse_rulebook(path.read_text("utf-8"))
            texts.update({rid: text for rid, text in parsed.items() if rid in texts})
    return texts


def rule_title(rule_id: str) -> str:
    return BUILTIN_TITLES.get(rule_id, rule_id)


def is_rule(rule_id: object) -> bool:
    return isinstance(rule_id, str) and rule_id in BUILTIN_TITLES
