"""The consent policy the toy applies: fetched from the cloud, cached with its version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from device.state import StateFileError, ToyState

POLICY_FILE = "policy.json"


@dataclass(frozen=True)
class ConsentPolicy:
    version: int = 0
    purposes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def deny_all(cls) -> ConsentPolicy:
        return cls()

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ConsentPolicy:
        version = value.get("version")
        purposes = value.get("purposes")
        if not isinstance(version, int) or not isinstance(purposes, list) or not all(
            isinstance(p, str) for p in purposes
        ):
            raise ValueError("malformed consent policy")
        return cls(version=version, purposes=frozenset(purposes))

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "purposes": sorted(self.purposes)}

    @property
    def any_consent(self) -> bool:
        return bool(self.purposes)


def load_cached(state: ToyState) -> ConsentPolicy:
    """The cached policy, or deny-all when there is none; StateFileError if it is damaged."""
    raw = state.read_json(POLICY_FILE)
    if raw is None:
        return ConsentPolicy.deny_all()
    try:
        return ConsentPolicy.from_json(raw)
    except ValueError as error:
        raise StateFileError(f"{state.path(POLICY_FILE)} is damaged ({error})") from error


def save_cached(state: ToyState, policy: ConsentPolicy) -> None:
    state.write_json(POLICY_FILE, policy.to_json())
