"""Play scenarios: start a real cloud per scenario, run its steps, evaluate its checks.

A check passes when what it observed matches what the scenario expected: the rule `hold`s, or,
for a negative control, the deliberate `violation` is detected. An error while observing is a
failure either way, so a broken check can never pass for a detection. Every process and relay
a scenario started is stopped when it ends, however it ends.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from scenarios.checks import load_all
from scenarios.context import ScenarioContext, StepError
from scenarios.model import CheckSpec, Scenario, load_scenario
from scenarios.processes import CloudServer
from scenarios.steps import STEPS, run_step
from scenarios.variants import CLOUD_VARIANTS

CATALOGUE = Path(__file__).resolve().parent / "catalogue"
# Set on Ctrl-C or SIGTERM: every running scenario stops at its next step and cleans up.
STOP = threading.Event()
Observed = Literal["held", "violated", "error", "not run", "not applicable"]


@dataclass(frozen=True)
class CheckResult:
    scenario: str
    check_id: str
    title: str
    kind: str
    rules: tuple[str, ...]
    expect: str
    negative_control: bool
    observed: Observed
    evidence: str
    seconds: float

    @property
    def status(self) -> Literal["pass", "fail"]:
        wanted = "held" if self.expect == "hold" else "violated"
        if self.observed == "not applicable" and self.expect == "hold":
            return "pass"
        return "pass" if self.observed == wanted else "fail"


@dataclass
class ScenarioResult:
    scenario: Scenario
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    log: list[str] = field(default_factory=list)

    @property
    def status(self) -> Literal["pass", "fail"]:
        ok = self.error is None and all(c.status == "pass" for c in self.checks)
        return "pass" if ok else "fail"


def load_scenarios(paths: Iterable[Path]) -> list[Scenario]:
    kinds = load_all()
    return [load_scenario(path, STEPS, kinds) for path in paths]


def catalogue_files() -> list[Path]:
    return sorted(CATALOGUE.glob("*.yaml"))


def _evaluate(ctx: ScenarioContext, spec: CheckSpec) -> CheckResult:
    started = time.perf_counter()
    observed: Observed
    try:
        observation = load_all()[spec.kind](ctx, spec.args)
        observed = "held" if observation.held else "violated"
        if not observation.applicable:
            observed = "not applicable"
        evidence = observation.evidence
    except Exception as exc:  # noqa: BLE001 - an observation that fails is reported, not raised
        observed, evidence = "error", f"could not observe: {type(exc).__name__}: {exc}"
    return CheckResult(ctx.scenario.name, spec.id, spec.title, spec.kind, spec.rules,
                       spec.expect, ctx.scenario.negative_control, observed, evidence,
                       time.perf_counter() - started)


def _not_run(scenario: Scenario, spec: CheckSpec, reason: str) -> CheckResult:
    return CheckResult(scenario.name, spec.id, spec.title, spec.kind, spec.rules, spec.expect,
                       scenario.negative_control, "not run", reason, 0.0)


def _cloud_for(scenario: Scenario, workdir: Path) -> CloudServer:
    config_file = None
    if scenario.cloud_config:
        config_file = workdir / "cloud-config.yaml"
        config_file.write_text(yaml.safe_dump(scenario.cloud_config), "utf-8")
    module = CLOUD_VARIANTS[scenario.cloud_variant] if scenario.cloud_variant else "teddy"
    return CloudServer(workdir, module=module, env=scenario.cloud_env, tls=scenario.tls,
                       config_file=config_file)


def run_scenario(scenario: Scenario, keep_dir: Path | None = None) -> ScenarioResult:
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"teddy-scenario-{scenario.name}-"))
    result = ScenarioResult(scenario)
    ctx = ScenarioContext(scenario, workdir, _cloud_for(scenario, workdir))
    pending = list(scenario.steps)
    where = "starting the cloud"
    try:
        with ctx.stack:
            began = time.perf_counter()
            ctx.stack.enter_context(ctx.cloud)
            ctx.note(f"cloud started in {time.perf_counter() - began:.2f} s")
            while pending:
                if STOP.is_set():
                    raise StepError("the run was interrupted")
                item = pending.pop(0)
                if isinstance(item, CheckSpec):
                    result.checks.append(_evaluate(ctx, item))
                else:
                    where = f"step {item.index + 1} ({item.action})"
                    began = time.perf_counter()
                    run_step(ctx, item.action, item.args)
                    ctx.note(f"{where} took {time.perf_counter() - began:.2f} s")
    except Exception as exc:  # noqa: BLE001 - the scenario stops; its report says where and why
        result.error = f"{where}: {type(exc).__name__}: {exc}"
        result.checks += [_not_run(scenario, spec, f"not reached: {result.error}")
                          for spec in pending if isinstance(spec, CheckSpec)]
    finally:
        result.log = ctx.log
        result.seconds = time.perf_counter() - started
        if keep_dir is not None:
            shutil.copytree(workdir, keep_dir / scenario.name, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def run_all(scenarios: list[Scenario], jobs: int = 2, keep_dir: Path | None = None,
            on_done: Callable[[ScenarioResult], None] | None = None) -> list[ScenarioResult]:
    """Run scenarios `jobs` at a time; results come back in the order given."""
    def one(scenario: Scenario) -> ScenarioResult:
        result = run_scenario(scenario, keep_dir)
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, scenario) for scenario in scenarios]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # Let running scenarios stop their processes before the interruption goes on.
            STOP.set()
            for future in futures:
                future.cancel()
            raise
