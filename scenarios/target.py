"""What a run tests: Teddy's own toy and cloud (white box), or someone else's (black box).

A black-box toy is any command that speaks the toy agent's JSON-lines protocol; a black-box
cloud is any command that serves the documented device API and parent pages on a given port.
Checks and steps that need to look inside (the cloud's database files, logs, clock and command
line; the toy's keys, memory and ledger) declare it, and are reported "not applicable" for a
target that does not give that access, never passed.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

CLOUD_INTERNALS = "cloud internals (database files, logs, clock, command line)"
TOY_INTERNALS = "toy internals (its keys, audio buffer and egress ledger)"

# What each check kind and step needs beyond the toy protocol, the wire and the web pages.
CHECK_NEEDS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("db_rows", "child_gone_from_db", "canary_absent_from_files",
                     "schema_matches_data_map", "consent_records_complete", "audit_intact",
                     "logs_clean", "erasure_proved", "retry_honest", "consent_refused",
                     "export_complete", "child_key_destroyed", "sealed_at_rest",
                     "other_family_denied", "add_child_refused",
                     "wrong_answer_refused"),
                    frozenset({CLOUD_INTERNALS})),
    "unit_test": frozenset({CLOUD_INTERNALS, TOY_INTERNALS}),
    # Probes sign with the toy's own keys; against a black-box cloud they still run, but
    # cannot confirm that a refused request changed nothing in its database.
    **dict.fromkeys(("probe_intent", "bad_input_refused", "other_toy_denied",
                     "old_credentials_refused", "toy_kept_no_audio", "ledger_matches_wire"),
                    frozenset({TOY_INTERNALS})),
}
PARTLY_BLIND = frozenset({"probe_intent", "bad_input_refused", "other_toy_denied",
                          "old_credentials_refused"})
STEP_NEEDS: dict[str, frozenset[str]] = dict.fromkeys(
    ("advance_clock", "purge", "backup", "delete_all_interrupted"), frozenset({CLOUD_INTERNALS}))
# Steps a black-box story can go on without: a backup only sets up what inside checks scan.
SKIPPABLE_STEPS = frozenset({"backup"})


@dataclass(frozen=True)
class Target:
    toy_command: str | None = None
    cloud_command: str | None = None
    # How the parent reads the cloud's e-mail (a sign-up's confirmation link): a command that
    # prints the messages sent to {to}; the cloud's pages give no other way to a mailbox.
    mail_command: str | None = None
    # Black-box commands run from the folder the user ran `teddy` in, so relative paths work.
    cwd: str = field(default_factory=os.getcwd)

    @property
    def white_box(self) -> bool:
        return self.toy_command is None and self.cloud_command is None

    @property
    def access(self) -> frozenset[str]:
        given = set()
        if self.cloud_command is None:
            given.add(CLOUD_INTERNALS)
        if self.toy_command is None:
            given.add(TOY_INTERNALS)
        return frozenset(given)

    def missing(self, needs: frozenset[str]) -> list[str]:
        return sorted(needs - self.access)

    def describe(self) -> str:
        if self.white_box:
            return "Teddy's own toy agent and cloud (white box)"
        toy = f"toy `{self.toy_command}`" if self.toy_command else "Teddy's toy agent"
        cloud = f"cloud `{self.cloud_command}`" if self.cloud_command else "Teddy's cloud"
        return f"black box: {toy} with {cloud}"

    def toy_argv(self, *, state: str, cloud: str, clock_file: str, ca_file: str) -> list[str]:
        assert self.toy_command is not None
        return _expand(self.toy_command, state=state, cloud=cloud, clock_file=clock_file,
                       ca_file=ca_file)

    def cloud_argv(self, *, host: str, port: int, workdir: str) -> list[str]:
        assert self.cloud_command is not None
        return _expand(self.cloud_command, host=host, port=str(port), workdir=workdir)


    def mail_argv(self, *, to: str, workdir: str) -> list[str]:
        assert self.mail_command is not None
        return _expand(self.mail_command, to=to, workdir=workdir)


def _expand(template: str, **values: str) -> list[str]:
    """Split like a shell, then fill {placeholders} in each word (no shell ever runs)."""
    try:
        return [word.format(**values) for word in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad command template {template!r}: {exc}; placeholders: "
                         f"{', '.join('{' + k + '}' for k in values)}") from exc


WHITE_BOX = Target()
