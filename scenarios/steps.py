"""What a story can do: parents act on the web, the child talks to the toy, time and the
network change, the cloud restarts. Each step either does what it says or raises StepError.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scenarios.args import ArgumentError, arg, str_list
from scenarios.backend import database_backend
from scenarios.context import FIXTURES, Family, ScenarioContext, StepError
from scenarios.processes import EGRESS_DIR, ToyProcess
from scenarios.relay import Relay, TlsTermination
from scenarios.variants import TOY_VARIANTS
from scenarios.variants.mutants import ENV as MUTANT_ENV
from scenarios.variants.mutants import MUTANTS

DAY_S = 86400.0
# The testbed's own CA under TLS (scenario folder), which only the recording relay's
# certificate chains to.
TESTBED_TLS_DIR = "testbed-tls"
# The payment processor's documented test card: verification passes, nothing is charged.
TEST_CARD = "4242 4242 4242 4242"
StepFunction = Callable[[ScenarioContext, dict[str, Any]], None]
STEPS: dict[str, StepFunction] = {}


def step(name: str) -> Callable[[StepFunction], StepFunction]:
    def register(function: StepFunction) -> StepFunction:
        STEPS[name] = function
        return function
    return register


def run_step(ctx: ScenarioContext, action: str, args: dict[str, Any]) -> None:
    try:
        STEPS[action](ctx, args)
    except ArgumentError as exc:
        raise StepError(f"{action}: {exc}") from exc


def _family(ctx: ScenarioContext, args: dict[str, Any]) -> Family:
    return ctx.family(arg(args, "family", str, "a"))


# -- the parent, on the real web pages ---------------------------------------------------------
@step("signup")
def signup(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    from scenarios.parent_client import ParentClient

    family = _family(ctx, args)
    family.email = arg(args, "email", str, family.email)
    ca_file = ctx.cloud.ca_file
    family.parent = ParentClient(ctx.cloud.url, verify_tls=str(ca_file) if ca_file else True,
                                 mail_db=ctx.cloud.database,
                                 read_mail=ctx.cloud.mail_reader())
    # Environment CA bundles (REQUESTS_CA_BUNDLE) would otherwise override the pinned CA.
    family.parent.http.trust_env = False
    family.parent.signup(family.email, family.password)


@step("login")
def login(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    family.require_parent().login(family.email, family.password)


@step("add_child")
def add_child(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    family.child_name = arg(args, "first_name", str, "") or None
    family.child_id = int(family.require_parent().add_child(
        first_name=family.child_name or "", age_band=arg(args, "age_band", str, "6-8"),
        country=arg(args, "country", str, "US")))


@step("consent")
def consent(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    method = arg(args, "method", str, "payment_card")
    extra = {k: v for k, v in args.items() if k not in ("family", "method", "purposes")}
    if method in ("payment_card", "card"):
        extra.setdefault("card_number", TEST_CARD)
    purposes = str_list(args, "purposes")
    family.require_parent().verify_and_consent(family.require_child(), method=method,
                                               purposes=purposes, **extra)
    _consent_event(ctx, family, f"parent allows {', '.join(purposes)} (verified by "
                                f"{method.replace('_', ' ')})")


def _consent_event(ctx: ScenarioContext, family: Family, text: str) -> None:
    ctx.timeline.append({"type": "consent", "family": family.name, "text": text})


@step("decline_all")
def decline_all(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    family.require_parent().decline_all(family.require_child())
    _consent_event(ctx, family, "parent declines everything")


@step("revoke")
def revoke(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    outcome = family.require_parent().revoke(family.require_child(), arg(args, "purpose", str))
    family.messages = list(outcome.messages)
    _consent_event(ctx, family, f"parent turns off {arg(args, 'purpose', str)}: "
                                + " ".join(family.messages))
    ctx.note(f"revoke: the parent was told {' / '.join(family.messages)!r}")


@step("unpair_toy")
def unpair_toy(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """The parent removes the toy on the dashboard; its keys stay on the toy (R33)."""
    family = _family(ctx, args)
    if family.device_id is None:
        raise StepError(f"family {family.name!r} has no paired toy")
    family.require_parent().delete_item(family.require_child(), "devices", family.device_id)
    _consent_event(ctx, family, f"parent removes toy {family.device_id}")


@step("copy_session")
def copy_session(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """Copy the parent's cookies, as malware or a shared computer would (R33)."""
    family = _family(ctx, args)
    family.stolen_cookies = family.require_parent().http.cookies.get_dict()
    if not family.stolen_cookies:
        raise StepError(f"family {family.name!r} has no session cookie to copy")


@step("logout")
def logout(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    _family(ctx, args).require_parent().logout()


@step("export")
def export(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    family.export = family.require_parent().export(family.require_child())


@step("delete_all")
def delete_all(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    started = time.perf_counter()
    receipt = family.require_parent().delete_all(family.require_child())
    family.deletion_seconds = time.perf_counter() - started
    family.receipt = receipt if isinstance(receipt, dict) else {"text": str(receipt)}
    _consent_event(ctx, family, f"parent deletes everything ({family.deletion_seconds:.2f} s)")


@step("delete_all_interrupted")
def delete_all_interrupted(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """Ask for deletion, kill -9 the cloud the moment the rows are gone (before the backups,
    WAL and proof are done), and start it again (R32).

    Something outside the cloud holds the erasure's next step back for a moment, which leaves
    a window to kill the server in that is the same on every run: on SQLite a reader holding
    a snapshot (the erasure's WAL checkpoint waits for it), on PostgreSQL the erasure runner's
    own advisory lock (the job's later steps wait for it).
    """
    import threading

    family = _family(ctx, args)
    parent, child_id = family.require_parent(), family.require_child()

    def ask() -> None:
        try:
            parent.delete_all(child_id)
        except Exception as exc:  # noqa: BLE001 - the server is killed under this request
            ctx.note(f"delete_all_interrupted: the parent's request ended with {exc!r:.120}")

    killed_after: float | None = None
    with erasure_held_back(ctx.cloud.database) as hold:
        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        started = time.monotonic()
        while time.monotonic() - started < arg(args, "timeout_s", float, 30.0):
            if hold.rows_gone(child_id):
                ctx.cloud.kill()
                killed_after = time.monotonic() - started
                hold.cloud_killed()
                break
            time.sleep(0.005)
    asking.join(timeout=20)
    if killed_after is None:
        raise StepError("the erasure never removed the child's rows, so there was nothing to "
                        "interrupt")
    ctx.note(f"delete_all_interrupted: kill -9 {killed_after:.3f} s after asking, as the rows "
             "went")
    ctx.cloud.start()


class ErasureHold:
    """Something outside the cloud holding an erasure's later steps back."""

    def rows_gone(self, child_id: int) -> bool:
        raise NotImplementedError

    def cloud_killed(self) -> None:
        """The cloud was just killed: clear what it left behind before the hold ends."""

    def close(self) -> None:
        raise NotImplementedError


class _SqliteSnapshot(ErasureHold):
    def __init__(self, path: str) -> None:
        import sqlite3

        self.path = path
        self.holder = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.holder.execute("BEGIN")
        self.holder.execute("SELECT COUNT(*) FROM children").fetchone()

    def rows_gone(self, child_id: int) -> bool:
        import sqlite3

        probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return probe.execute("SELECT 1 FROM children WHERE id = ?",
                                 [child_id]).fetchone() is None
        finally:
            probe.close()

    def close(self) -> None:
        self.holder.rollback()
        self.holder.close()


class _PostgresRunnerTurn(ErasureHold):
    def __init__(self, url: str) -> None:
        import psycopg

        from cloud.retention.jobs import runner_turn

        # The erasure runner's turn, taken with the cloud's own call before the erasure
        # starts (however the cloud implements the turn): the cloud deletes the rows, then its
        # runner waits for the turn; killing the cloud then leaves the job half done.
        self.turn = contextlib.ExitStack()
        if not self.turn.enter_context(runner_turn(url, wait=True)):
            self.turn.close()
            raise StepError("could not take the erasure runner's turn")
        self.probe = psycopg.connect(url, autocommit=True,
                                     options="-c default_transaction_read_only=on")

    def rows_gone(self, child_id: int) -> bool:
        return self.probe.execute("SELECT 1 FROM children WHERE id = %s",
                                  [child_id]).fetchone() is None

    def cloud_killed(self) -> None:
        # A killed client's server process waiting for a lock lingers until it gets it; end
        # those sessions, as the server does once it notices the client is gone, so none of
        # them takes the turn for a moment after it is handed back.
        self.probe.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE NOT granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")

    def close(self) -> None:
        try:
            self.probe.close()
        finally:
            self.turn.close()  # hands the turn back


@contextlib.contextmanager
def erasure_held_back(database: str) -> Iterator[ErasureHold]:
    hold: ErasureHold = (_PostgresRunnerTurn(database)
                         if database_backend(database) == "postgresql"
                         else _SqliteSnapshot(database))
    try:
        yield hold
    finally:
        hold.close()


@step("retry_delete_all")
def retry_delete_all(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """The parent asks for deletion again (after a crash, say) and reads what the page says."""
    from scenarios.parent_client import ParentWebError

    family = _family(ctx, args)
    path = f"/parent/children/{family.require_child()}/delete"
    try:
        response = family.require_parent().post(path, {"confirm": "DELETE"})
    except ParentWebError as exc:
        family.retry = {"status": exc.status, "text": str(exc)[:200], "receipt": False}
    else:
        family.retry = {"status": response.status_code, "receipt": "receipt-json" in response.text,
                        "text": " ".join(response.text.split())[:200]}
    ctx.note(f"retry_delete_all: {family.retry['status']}")


# -- the toy: a separate process behind a byte-recording relay ---------------------------------
@step("start_toy")
def start_toy(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """Switch on a fresh toy (or the family's existing one, after a restart)."""
    family = _family(ctx, args)
    if family.toy is not None:
        raise StepError(f"family {family.name!r} already has a running toy")
    if family.relay is None:
        family.relay = ctx.stack.enter_context(Relay(ctx.cloud.host, ctx.cloud.port,
                                                     terminate=_termination(ctx)))
    # Under TLS the toy pins the testbed's CA, which issued the relay's certificate for the
    # cloud's name: the relay can then read, record and check what the toy sends.
    termination = family.relay.termination
    ca_file = termination.ca_file if termination is not None else None
    variant = arg(args, "variant", str, ctx.scenario.toy_variant or "") or None
    if variant is not None and variant not in TOY_VARIANTS:
        raise StepError(f"unknown toy variant {variant!r}; known: {sorted(TOY_VARIANTS)}")
    family.state_dir = family.state_dir or ctx.workdir / f"toy-{family.name}"
    module = TOY_VARIANTS[variant] if variant else "scenarios.toy_agent"
    env = {}
    mutant = ctx.scenario.mutant
    if mutant is not None and MUTANTS[mutant].side == "toy":
        module, env[MUTANT_ENV] = "scenarios.variants.mutants", mutant
    url = family.relay.url
    argv = None
    if ctx.target.toy_command is not None:
        argv = ctx.target.toy_argv(state=str(family.state_dir), cloud=url,
                                   clock_file=str(ctx.cloud.clock_file),
                                   ca_file=str(ca_file or ""))
    toy = ToyProcess(family.state_dir, url, module=module, clock_file=ctx.cloud.clock_file,
                     ca_file=ca_file, env=env, argv=argv,
                     cwd=ctx.target.cwd if argv else None,
                     trace_file=ctx.workdir / EGRESS_DIR / f"toy-{family.name}.trace")
    family.toy = ctx.stack.enter_context(toy)
    family.policy = family.toy.first_call("status")["policy"]


def _termination(ctx: ScenarioContext) -> TlsTermination | None:
    """The relay's stand-in for the cloud under TLS: one testbed CA per scenario."""
    if not ctx.cloud.tls or ctx.cloud.ca_file is None:
        return None
    return TlsTermination.issued(ctx.workdir / TESTBED_TLS_DIR, ctx.cloud.host,
                                 ctx.cloud.ca_file)


@step("pair_toy")
def pair_toy(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    if family.toy is None:
        start_toy(ctx, {k: v for k, v in args.items() if k in ("family", "variant")})
    code = family.require_parent().pairing_code(family.require_child())
    answer = family.require_toy().call("pair", code=code)
    family.device_id = answer["device_id"]
    family.policy = answer["policy"]


@step("restart_toy")
def restart_toy(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """Power-cycle (or update) the toy: a new process on the same state directory."""
    family = _family(ctx, args)
    family.require_toy().stop()
    family.toy = None
    start_toy(ctx, args)


@step("say")
def say(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    before = len(family.captured())
    answer = family.require_toy().call("say", text=arg(args, "text", str))
    family.answers.append(answer)
    _turn_event(ctx, family, answer, len(family.captured()) - before)


@step("hear")
def hear(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    clip = Path(arg(args, "clip", str))
    if not clip.is_absolute():
        clip = next((base / clip for base in (FIXTURES / "demo", FIXTURES)
                     if (base / clip).is_file()), FIXTURES / "demo" / clip)
    if not clip.is_file():
        raise StepError(f"no audio clip at {clip}")
    cents = arg(args, "pitch_cents", int, 0)
    if cents:
        clip = _pitch_shifted(ctx, clip, cents)
    before = len(family.captured())
    answer = family.require_toy().call("hear", clip=str(clip), timeout_s=120.0)
    family.answers.append(answer)
    family.last_hear = answer
    _turn_event(ctx, family, answer, len(family.captured()) - before)


# Typed turns carry no audio; a cloud-listening toy would have streamed about this much:
# 16 kHz, 16-bit mono speech at about 2.5 words a second, plus half a second of lead-in.
PCM_BYTES_PER_S = 32000
WORDS_PER_S = 2.5


def _turn_event(ctx: ScenarioContext, family: Family, answer: dict[str, Any],
                wire_bytes: int) -> None:
    turn = answer.get("turn", {})
    heard = str(turn.get("heard", ""))
    audio = answer.get("audio_bytes")
    estimated = audio is None
    if estimated:
        audio = int((0.5 + len(heard.split()) / WORDS_PER_S) * PCM_BYTES_PER_S)
    ctx.timeline.append({
        "type": "turn", "family": family.name, "heard": heard,
        "intent": turn.get("intent"), "decision": turn.get("reason"),
        "answered_by": turn.get("answered_by"), "sent": turn.get("sent_body") is not None,
        "body_bytes": len(turn.get("sent_body") or ""), "wire_bytes": wire_bytes,
        "audio_bytes": int(audio), "audio_estimated": estimated,
        "reply": turn.get("reply"), "personalised": turn.get("personalised"),
        "dropped": turn.get("dropped_slots", []), "leaked": answer.get("leaked")})


def _pitch_shifted(ctx: ScenarioContext, clip: Path, cents: int) -> Path:
    """The same words in a higher or lower voice (sox's pitch effect keeps the tempo)."""
    out = ctx.workdir / f"{clip.stem}_pitch{cents:+d}.wav"
    if not out.exists():
        result = subprocess.run(["sox", str(clip), str(out), "pitch", str(cents)],
                                capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise StepError(f"sox could not shift {clip.name}: {result.stderr.strip()[-300:]}")
    return out


@step("refresh_policy")
def refresh_policy(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    family = _family(ctx, args)
    family.policy = family.require_toy().call("refresh_policy")["policy"]


@step("network")
def network(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """Drop or restore the toy's network (one family's, or every toy's)."""
    online = arg(args, "online", bool)
    names = [arg(args, "family", str)] if "family" in args else list(ctx.families)
    for name in names:
        relay = ctx.family(name).relay
        if relay is None:
            raise StepError(f"family {name!r} has no toy on the network yet")
        relay.set_online(online)


# -- the cloud, its clock and its maintenance ----------------------------------------------------
@step("restart_cloud")
def restart_cloud(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    env = arg(args, "env", dict, {})
    ctx.cloud.stop()
    ctx.cloud.env.update({str(k): str(v) for k, v in env.items()})
    ctx.cloud.start()


@step("advance_clock")
def advance_clock(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    days = arg(args, "days", float)
    if days <= 0:
        raise StepError("advance_clock: days must be positive; time never runs backwards")
    ctx.cloud.set_clock_offset(ctx.cloud.clock_offset() + days * DAY_S)


def _cloud_cli(ctx: ScenarioContext, *args: str) -> str:
    if ctx.cloud.config_file is not None:
        args = (*args, "--config", str(ctx.cloud.config_file))
    result = ctx.cloud.run_cli(*args)
    if result.returncode != 0:
        raise StepError(f"`teddy cloud {' '.join(args[:1])}` exited {result.returncode}: "
                        f"{(result.stderr or result.stdout).strip()[-600:]}")
    return result.stdout


@step("purge")
def purge(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    output = _cloud_cli(ctx, "purge", "--db", ctx.cloud.database, "--clock-file",
                        str(ctx.cloud.clock_file))
    ctx.note(f"purge: {output.strip()[:300]}")


@step("backup")
def backup(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    output = _cloud_cli(ctx, "backup", "--db", ctx.cloud.database, "--clock-file",
                        str(ctx.cloud.clock_file))
    ctx.note(f"backup: {output.strip()[:300]}")


# -- bookkeeping -------------------------------------------------------------------------------
@step("mark")
def mark(ctx: ScenarioContext, args: dict[str, Any]) -> None:
    """Remember where every toy's capture stands, so checks can look only at what follows."""
    name = arg(args, "name", str)
    ctx.marks[name] = {key: len(family.captured()) for key, family in ctx.families.items()}
    ctx.wire_marks[name] = {key: len(family.captured_on_wire())
                            for key, family in ctx.families.items()}
    # And the cloud's time: a probe can send a message "composed" then (queued offline).
    ctx.mark_times[name] = time.time() + ctx.cloud.clock_offset()
