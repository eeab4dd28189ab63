"""Play scenarios: start a real cloud per scenario, run its steps, evaluate its checks.

A check passes when what it observed matches what the scenario expected: the rule `hold`s, or,
for a negative control, the deliberate `violation` is detected. An error while observing is a
failure either way, so a broken check can never pass for a detection. Every process and relay
a scenario started is stopped when it ends, however it ends.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from scenarios import egress
from scenarios.backend import (
    SqliteFiles,
    StoryDatabases,
    may_declare_itself_not_applicable,
    not_applicable_reason,
    step_skipped_because,
)
from scenarios.checks import load_all
from scenarios.context import ScenarioContext, StepError
from scenarios.model import CheckSpec, Scenario, load_scenario
from scenarios.processes import CloudServer, HarnessError, ToyProcess, ToyRefused
from scenarios.steps import STEPS, run_step
from scenarios.target import (
    CHECK_NEEDS,
    CLOUD_INTERNALS,
    PARTLY_BLIND,
    SKIPPABLE_STEPS,
    STEP_NEEDS,
    WHITE_BOX,
    Target,
)
from scenarios.variants import CLOUD_VARIANTS
from scenarios.variants.mutants import ENV as MUTANT_ENV
from scenarios.variants.mutants import MUTANTS

MUTANTS_MODULE = "scenarios.variants.mutants"

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
    def status(self) -> Literal["pass", "fail", "not applicable"]:
        if self.observed == "not applicable":
            return "not applicable"
        wanted = "held" if self.expect == "hold" else "violated"
        return "pass" if self.observed == wanted else "fail"


@dataclass
class ScenarioResult:
    scenario: Scenario
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    log: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # The testbed could not run the story (a command that does not start): nothing about the
    # rules was observed, so this is neither a pass nor a privacy failure.
    harness_error: bool = False

    @property
    def status(self) -> Literal["pass", "fail", "error"]:
        if self.harness_error:
            return "error"
        ok = self.error is None and all(c.status != "fail" for c in self.checks)
        return "pass" if ok else "fail"


def load_scenarios(paths: Iterable[Path]) -> list[Scenario]:
    kinds = load_all()
    return [load_scenario(path, STEPS, kinds) for path in paths]


def catalogue_files() -> list[Path]:
    return sorted(CATALOGUE.glob("*.yaml"))


# Checks that read the egress observer's record; without strace they cannot be made.
OBSERVER_CHECKS = frozenset({"egress_only_to_cloud", "no_copies_anywhere"})


def implicit_checks(ctx: ScenarioContext) -> list[CheckSpec]:
    """What every clean story checks without saying so: each toy talks only to its cloud
    route and sends only declared fields, and the cloud sends nothing of its own. A story
    that declares such a check itself keeps its own."""
    if ctx.scenario.negative_control:
        return []  # a planted violation is judged by the checks aimed at it
    declared = {(s.kind, str(s.args.get("who", "toy")), str(s.args.get("family", "a")))
                for s in ctx.scenario.checks}

    def spec(check_id: str, kind: str, title: str, rules: tuple[str, ...],
             args: dict[str, Any]) -> CheckSpec | None:
        key = (kind, str(args.get("who", "toy")), str(args.get("family", "a")))
        return None if key in declared else CheckSpec(-1, check_id, kind, title, rules,
                                                      "hold", args)

    specs = [spec("egress-cloud", "egress_only_to_cloud",
                  "The cloud sends nothing to anyone of its own accord", ("R10",),
                  {"who": "cloud"})]
    for name, family in ctx.families.items():
        if family.relay is None:
            continue
        specs.append(spec(f"egress-toy-{name}", "egress_only_to_cloud",
                          f"Toy {name} talks to nobody but its cloud", ("R10",),
                          {"who": "toy", "family": name}))
        # Under TLS the relay terminates it (scenarios/relay.py), so the fields are read there.
        specs.append(spec(f"wire-fields-{name}", "wire_fields_declared",
                          f"Toy {name} sends only declared fields, as the child said them",
                          ("R03", "R34"), {"family": name}))
    return [s for s in specs if s is not None]


def _evaluate(ctx: ScenarioContext, spec: CheckSpec) -> CheckResult:
    blind = egress.unavailable() if spec.kind in OBSERVER_CHECKS else None
    if blind is not None:
        return _not_applicable(ctx.scenario, spec, blind)
    missing = ctx.target.missing(CHECK_NEEDS.get(spec.kind, frozenset()))
    if missing:
        return _not_applicable(ctx.scenario, spec, f"needs {' and '.join(missing)}, which this "
                                                   "black-box target does not give")
    backend = ctx.cloud.backend
    reason = not_applicable_reason(spec.kind, backend)
    if reason is not None:
        return _not_applicable(ctx.scenario, spec, reason)
    started = time.perf_counter()
    observed: Observed
    try:
        observation = load_all()[spec.kind](ctx, spec.args)
        observed = "held" if observation.held else "violated"
        evidence = observation.evidence
        if not observation.applicable:
            if may_declare_itself_not_applicable(spec.kind, backend):
                observed = "not applicable"
            else:
                # Only the declared kinds may step aside; anything else saying so could be
                # hiding a failure, so it counts as one.
                observed = "error"
                evidence = (f"the check said it does not apply, but {spec.kind} is not "
                            f"declared as ever inapplicable on {backend}: {evidence}")
        if spec.kind in PARTLY_BLIND and CLOUD_INTERNALS not in ctx.target.access:
            evidence += " [black-box cloud: its database could not be checked for changes]"
    except Exception as exc:  # noqa: BLE001 - an observation that fails is reported, not raised
        observed, evidence = "error", f"could not observe: {type(exc).__name__}: {exc}"
    return CheckResult(ctx.scenario.name, spec.id, spec.title, spec.kind, spec.rules,
                       spec.expect, ctx.scenario.negative_control, observed, evidence,
                       time.perf_counter() - started)


def _not_run(scenario: Scenario, spec: CheckSpec, reason: str) -> CheckResult:
    return CheckResult(scenario.name, spec.id, spec.title, spec.kind, spec.rules, spec.expect,
                       scenario.negative_control, "not run", reason, 0.0)


def _not_applicable(scenario: Scenario, spec: CheckSpec, reason: str) -> CheckResult:
    return CheckResult(scenario.name, spec.id, spec.title, spec.kind, spec.rules, spec.expect,
                       scenario.negative_control, "not applicable", reason, 0.0)


def _cloud_for(scenario: Scenario, workdir: Path, target: Target, database: str
               ) -> CloudServer:
    config_file = None
    if scenario.cloud_config:
        config_file = workdir / "cloud-config.yaml"
        config_file.write_text(yaml.safe_dump(scenario.cloud_config), "utf-8")
    module = CLOUD_VARIANTS[scenario.cloud_variant] if scenario.cloud_variant else "teddy"
    env = dict(scenario.cloud_env)
    if scenario.mutant is not None and MUTANTS[scenario.mutant].side == "cloud":
        module, env[MUTANT_ENV] = MUTANTS_MODULE, scenario.mutant
    return CloudServer(workdir, module=module, env=env, tls=scenario.tls,
                       config_file=config_file, target=target, database=database)


def run_scenario(scenario: Scenario, keep_dir: Path | None = None,
                 target: Target = WHITE_BOX, databases: StoryDatabases | None = None
                 ) -> ScenarioResult:
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"teddy-scenario-{scenario.name}-"))
    result = ScenarioResult(scenario)
    databases = databases if databases is not None else SqliteFiles()
    # Negative controls calibrate the checks with Teddy's own broken variants, whatever the
    # target; only the clean stories are played against someone else's toy or cloud.
    target = WHITE_BOX if scenario.negative_control else target
    try:
        database = databases.for_story(scenario.name, workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    ctx = ScenarioContext(scenario, workdir, _cloud_for(scenario, workdir, target, database),
                          target=target)
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
                    continue
                missing = target.missing(STEP_NEEDS.get(item.action, frozenset()))
                skipped = step_skipped_because(item.action, ctx.cloud.backend)
                if skipped is not None:
                    ctx.note(f"step {item.index + 1} ({item.action}) {skipped}")
                elif missing and item.action in SKIPPABLE_STEPS:
                    ctx.note(f"step {item.index + 1} ({item.action}) skipped: needs "
                             f"{' and '.join(missing)}")
                elif missing:
                    reason = (f"the story's step {item.index + 1} ({item.action}) needs "
                              f"{' and '.join(missing)}, which this black-box target does not "
                              "give")
                    ctx.note(reason)
                    result.checks += [_not_applicable(scenario, spec, reason)
                                      for spec in pending if isinstance(spec, CheckSpec)]
                    pending.clear()
                else:
                    where = f"step {item.index + 1} ({item.action})"
                    began = time.perf_counter()
                    run_step(ctx, item.action, item.args)
                    ctx.note(f"{where} took {time.perf_counter() - began:.2f} s")
            result.checks += [_evaluate(ctx, spec) for spec in implicit_checks(ctx)]
    except Exception as exc:  # noqa: BLE001 - the scenario stops; its report says where and why
        result.harness_error = isinstance(exc, HarnessError)
        result.error = f"{where}: {type(exc).__name__}: {exc}"
        result.checks += [_not_run(scenario, spec, f"not reached: {result.error}")
                          for spec in pending if isinstance(spec, CheckSpec)]
    finally:
        result.log = ctx.log
        result.timeline = ctx.timeline
        result.seconds = time.perf_counter() - started
        if keep_dir is not None:
            _keep(ctx, keep_dir / scenario.name)
        databases.release(database)
        shutil.rmtree(workdir, ignore_errors=True)
        # Files a cloud wrote beside its folder (a violator's side store) carry the folder's
        # unique name; they go too, so no run leaves a child's data in the temp folder.
        for stray in workdir.parent.glob(f"{workdir.name}-*"):
            if stray.is_file():
                stray.unlink(missing_ok=True)
    return result


def _keep(ctx: ScenarioContext, destination: Path) -> None:
    """Copy the scenario's files; a PostgreSQL database, which lives on the run's server and
    goes with it, is kept as a JSON dump of its rows."""
    shutil.copytree(ctx.workdir, destination, dirs_exist_ok=True)
    if ctx.cloud.backend != "postgresql":
        return
    from scenarios.checks.dbview import dump

    try:
        rows = dump(ctx.cloud.database)
    except Exception as exc:  # noqa: BLE001 - a failed copy is noted, the run goes on
        (destination / "database-rows.json").write_text(
            json.dumps({"error": f"{type(exc).__name__}: {exc}"}), "utf-8")
        return
    (destination / "database-rows.json").write_text(
        json.dumps(rows, indent=1, default=repr), "utf-8")


def preflight(target: Target) -> None:
    """Start a black-box toy or cloud once before any story, so a command that cannot start is
    one harness error (HarnessError) instead of every story failing."""
    if target.white_box:
        return
    with tempfile.TemporaryDirectory(prefix="teddy-preflight-") as folder:
        workdir = Path(folder)
        if target.cloud_command:
            with CloudServer(workdir / "cloud", target=target):
                pass
        if target.toy_command:
            state = workdir / "toy"
            argv = target.toy_argv(state=str(state), cloud="http://127.0.0.1:9",
                                   clock_file=str(workdir / "clock-offset"), ca_file="")
            toy = ToyProcess(state, "http://127.0.0.1:9", argv=argv, cwd=target.cwd,
                             log_path=workdir / "toy.log")
            # A refusal is an answer: the toy is running.
            with toy, contextlib.suppress(ToyRefused):
                toy.first_call("status", timeout_s=60)


def run_all(scenarios: list[Scenario], jobs: int = 2, keep_dir: Path | None = None,
            on_done: Callable[[ScenarioResult], None] | None = None,
            target: Target = WHITE_BOX, databases: StoryDatabases | None = None
            ) -> list[ScenarioResult]:
    """Run scenarios `jobs` at a time; results come back in the order given."""
    def one(scenario: Scenario) -> ScenarioResult:
        result = run_scenario(scenario, keep_dir, target, databases)
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
