"""Scenario files: YAML stories of steps and checks, loaded and validated before anything runs.

    name: revocation
    title: A parent withdraws consent
    story: What happens, in words a parent would use.
    variant: {toy: leaky_name}          # optional: a deliberately broken toy or cloud
    cloud: {tls: false, env: {TEDDY_NOTICE_VERSION: "1"}, config: {consent_ages: {US: 13}}}
    steps:
      - signup: {family: a}
      - say: {family: a, text: "my name is emma"}
      - check:
          id: name-stays-home
          rules: [R04, R23]
          kind: no_personal_data_on_wire
          family: a
          values: [emma]

A step is a one-key mapping (action: arguments) or a bare action name. A check names the rule
IDs it verifies and what it expects: `hold` (default) or `violation` for negative controls.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from scenarios.rules import RULE_IDS, is_rule
from scenarios.variants import CLOUD_VARIANTS, TOY_VARIANTS

Expect = Literal["hold", "violation"]
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
CHECK_KEYS = {"id", "title", "rules", "kind", "expect"}
TOP_KEYS = {"name", "title", "story", "variant", "cloud", "steps"}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message says which file and which step."""


@dataclass(frozen=True)
class Step:
    index: int
    action: str
    args: dict[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    index: int
    id: str
    kind: str
    title: str
    rules: tuple[str, ...]
    expect: Expect
    args: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    title: str
    story: str
    toy_variant: str | None
    cloud_variant: str | None
    tls: bool
    cloud_env: dict[str, str]
    cloud_config: dict[str, Any]
    steps: tuple[Step | CheckSpec, ...]
    tags: tuple[str, ...] = field(default=())
    # Set only on a copy made for a mutation run (scenarios.variants.mutants).
    mutant: str | None = None

    @property
    def negative_control(self) -> bool:
        return (self.toy_variant is not None or self.cloud_variant is not None
                or self.mutant is not None)

    @property
    def checks(self) -> list[CheckSpec]:
        return [s for s in self.steps if isinstance(s, CheckSpec)]


def _fail(path: Path, where: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{path}: {where}: {problem}")


def _mapping(path: Path, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _fail(path, where, "expected a mapping of names to values")
    return dict(value)


def _check(path: Path, index: int, raw: Any, kinds: Collection[str], seen: set[str]) -> CheckSpec:
    where = f"step {index + 1} (check)"
    spec = _mapping(path, where, raw)
    kind = spec.get("kind")
    if kind not in kinds:
        raise _fail(path, where, f"unknown check kind {kind!r}; known: {', '.join(sorted(kinds))}")
    rules = spec.get("rules")
    if not isinstance(rules, list) or not rules or not all(is_rule(r) for r in rules):
        raise _fail(path, where, f"rules must be a non-empty list of rule IDs "
                                 f"{RULE_IDS[0]}-{RULE_IDS[-1]}, got {rules!r}")
    expect = spec.get("expect", "hold")
    if expect not in ("hold", "violation"):
        raise _fail(path, where, f"expect must be 'hold' or 'violation', got {expect!r}")
    check_id = str(spec.get("id") or f"{kind}-{index + 1}")
    if not NAME.fullmatch(check_id):
        raise _fail(path, where, f"check id {check_id!r} must be lower-case letters, digits, "
                                 "'-' or '_'")
    if check_id in seen:
        raise _fail(path, where, f"duplicate check id {check_id!r}")
    seen.add(check_id)
    title = str(spec.get("title") or kind.replace("_", " "))
    args = {k: v for k, v in spec.items() if k not in CHECK_KEYS}
    return CheckSpec(index, check_id, kind, title, tuple(rules), expect, args)


def _step(path: Path, index: int, raw: Any, actions: Collection[str]) -> Step:
    where = f"step {index + 1}"
    if isinstance(raw, str):
        action, args = raw, {}
    elif isinstance(raw, dict) and len(raw) == 1:
        action, value = next(iter(raw.items()))
        args = _mapping(path, f"{where} ({action})", value)
    else:
        raise _fail(path, where, "a step is an action name or a one-key mapping")
    if action not in actions:
        raise _fail(path, where, f"unknown action {action!r}; known: {', '.join(sorted(actions))}")
    return Step(index, str(action), args)


def parse_scenario(path: Path, raw: Any, actions: Collection[str],
                   kinds: Collection[str]) -> Scenario:
    top = _mapping(path, "top level", raw)
    stray = set(top) - TOP_KEYS
    if stray:
        raise _fail(path, "top level", f"unknown keys {sorted(stray)}; allowed: {sorted(TOP_KEYS)}")
    name = top.get("name") or path.stem
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise _fail(path, "name", f"{name!r} must be lower-case letters, digits, '-' or '_'")
    variant = _mapping(path, "variant", top.get("variant"))
    toy_variant, cloud_variant = variant.pop("toy", None), variant.pop("cloud", None)
    if variant:
        raise _fail(path, "variant", f"only 'toy' and 'cloud' are allowed, not {sorted(variant)}")
    if toy_variant is not None and toy_variant not in TOY_VARIANTS:
        raise _fail(path, "variant", f"unknown toy variant {toy_variant!r}; known: "
                                     f"{sorted(TOY_VARIANTS)}")
    if cloud_variant is not None and cloud_variant not in CLOUD_VARIANTS:
        raise _fail(path, "variant", f"unknown cloud variant {cloud_variant!r}; known: "
                                     f"{sorted(CLOUD_VARIANTS)}")
    cloud = _mapping(path, "cloud", top.get("cloud"))
    env = _mapping(path, "cloud.env", cloud.pop("env", None))
    config = _mapping(path, "cloud.config", cloud.pop("config", None))
    tls = cloud.pop("tls", False)
    if cloud or not isinstance(tls, bool):
        raise _fail(path, "cloud", "allowed: tls (true/false), env and config (mappings)")
    raw_steps = top.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _fail(path, "steps", "a scenario needs a non-empty list of steps")
    seen: set[str] = set()
    steps: list[Step | CheckSpec] = []
    for index, raw_step in enumerate(raw_steps):
        if isinstance(raw_step, dict) and set(raw_step) == {"check"}:
            steps.append(_check(path, index, raw_step["check"], kinds, seen))
        else:
            steps.append(_step(path, index, raw_step, actions))
    if not any(isinstance(s, CheckSpec) for s in steps):
        raise _fail(path, "steps", "a scenario needs at least one check")
    return Scenario(path=path, name=name, title=str(top.get("title") or name),
                    story=" ".join(str(top.get("story") or "").split()),
                    toy_variant=toy_variant, cloud_variant=cloud_variant, tls=tls,
                    cloud_env={k: str(v) for k, v in env.items()}, cloud_config=config,
                    steps=tuple(steps))


def load_scenario(path: Path, actions: Collection[str], kinds: Collection[str]) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scenario(path, raw, actions, kinds)
