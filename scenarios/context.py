"""What a running scenario knows: its cloud, its families (parent, child, toy, relay), marks."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio_fixtures import fixtures_folder
from scenarios.model import Scenario
from scenarios.processes import CloudServer, ToyProcess
from scenarios.relay import Relay
from scenarios.target import WHITE_BOX, Target

FIXTURES = fixtures_folder()
DEFAULT_PASSWORD = "correct horse battery staple"


class StepError(RuntimeError):
    """A step could not do what the story asked; the scenario stops there."""


@dataclass
class Family:
    name: str
    email: str
    password: str = DEFAULT_PASSWORD
    parent: Any = None  # scenarios.parent_client.ParentClient once signed up
    child_id: int | None = None
    child_name: str | None = None
    toy: ToyProcess | None = None
    relay: Relay | None = None
    device_id: str | None = None
    state_dir: Path | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)
    last_hear: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    export: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None
    deletion_seconds: float | None = None
    # What the parent pages said after the family's last consent change (flash messages).
    messages: list[str] = field(default_factory=list)
    # Cookies copied from the parent's browser, as a thief would, before a sign-out.
    stolen_cookies: dict[str, str] | None = None
    # What the parent saw when asking again for a deletion (R32): status and words.
    retry: dict[str, Any] | None = None

    @property
    def turns(self) -> list[dict[str, Any]]:
        return [answer["turn"] for answer in self.answers if "turn" in answer]

    def require_child(self) -> int:
        if self.child_id is None:
            raise StepError(f"family {self.name!r} has no child yet (add_child first)")
        return self.child_id

    def require_parent(self) -> Any:
        if self.parent is None:
            raise StepError(f"family {self.name!r} has no parent account yet (signup first)")
        return self.parent

    def require_toy(self) -> ToyProcess:
        if self.toy is None:
            raise StepError(f"family {self.name!r} has no toy yet (pair_toy or start_toy first)")
        return self.toy

    def captured(self) -> bytes:
        """What the toy sent its cloud: decrypted when the relay terminates TLS."""
        return self.relay.plaintext_upstream() if self.relay else b""

    def captured_on_wire(self) -> bytes:
        """The toy's bytes exactly as they crossed the wire (encrypted under TLS)."""
        return self.relay.captured_upstream() if self.relay else b""


@dataclass
class ScenarioContext:
    scenario: Scenario
    workdir: Path
    cloud: CloudServer
    families: dict[str, Family] = field(default_factory=dict)
    # mark name -> family name -> offset into that family's upstream capture (plaintext)
    marks: dict[str, dict[str, int]] = field(default_factory=dict)
    # the same marks as offsets into the bytes as they crossed the wire (they differ under TLS)
    wire_marks: dict[str, dict[str, int]] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)
    # mark name -> the cloud's clock at that mark (a probe may send a message composed then)
    mark_times: dict[str, float] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    # What a reader sees in the report: each turn (child -> toy -> wire -> cloud) and each
    # consent change, in story order.
    timeline: list[dict[str, Any]] = field(default_factory=list)
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    target: Target = WHITE_BOX

    def family(self, name: object = "a") -> Family:
        key = str(name or "a")
        if key not in self.families:
            self.families[key] = Family(name=key, email=f"parent-{key}@example.org")
        return self.families[key]

    def window(self, family: Family, since: object = None, *, on_wire: bool = False) -> bytes:
        """The family's captured upstream bytes from a mark (or from the start): what the toy
        sent, or with `on_wire` the bytes as they crossed the wire (encrypted under TLS)."""
        data = family.captured_on_wire() if on_wire else family.captured()
        if since is None:
            return data
        marks = (self.wire_marks if on_wire else self.marks).get(str(since))
        if marks is None:
            raise StepError(f"no mark named {since!r}; add a `mark: {since}` step before")
        return data[marks.get(family.name, 0):]

    def note(self, text: str) -> None:
        self.log.append(text)
