"""Versioned privacy notices: which data categories each purpose covers in each version (R11)."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


@cache
def notice_versions() -> dict[int, dict[str, list[str]]]:
    text = resources.files("cloud").joinpath("notices.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return {int(v): {p: list(c) for p, c in spec["purposes"].items()} for v, spec in raw.items()}


def categories(purpose: str, version: int) -> set[str]:
    return set(notice_versions().get(version, {}).get(purpose, []))


def consent_still_covers(purpose: str, given_under: int, current: int) -> bool:
    """A consent holds while the current notice asks nothing new of that purpose."""
    if given_under == current:
        return True
    if purpose not in notice_versions().get(current, {}):
        return False
    return categories(purpose, current) <= categories(purpose, given_under)
