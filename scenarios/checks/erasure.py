"""Checks that erased data is gone everywhere, the logs included, and that erasure is proved.

R12 and R29: what a revoked purpose kept is gone and the parent was told. R30: the cloud's log
files, error output and any other store beside the database hold none of the child's values.
R32: an erasure cut short by a kill is finished after the restart, with its proof on record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scenarios.args import arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import copies_left, find_in_files, raw_files, read_only
from scenarios.context import ScenarioContext
from scenarios.processes import EGRESS_DIR

# Files in a scenario's folder that are not the cloud's to keep: the database (checked by
# the canary checks), the scenario's own set-up, and the toys' side (their state and stderr).
NOT_CLOUD_STORES = ("cloud-config.yaml", "clock-offset", "clock-offset.tmp")
PROOF_ACTION = "child.erase.proof"
ERASE_ACTION = "child.erase"
# The scope a finished, clean proof records: on SQLite a byte scan of the files came back
# clean; on PostgreSQL, whose files are the server's, no row names the child any more.
CLEAN_PROOF_SCOPE = {"sqlite": "clean", "postgresql": "rows_clean"}


@check("parent_told")
def parent_told(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The parent page's messages after the last consent change say what they must (R12)."""
    family = ctx.family(arg(args, "family", str, "a"))
    said = " / ".join(family.messages)
    lowered = said.lower()
    problems = [f"the parent was not told {text!r}" for text in str_list(args, "contains", [])
                if text.lower() not in lowered]
    problems += [f"the message itself holds {text!r}" for text in str_list(args, "lacks", [])
                 if text.lower() in lowered]
    return held_if(problems, f"the parent read: {said!r}")


def cloud_stores(ctx: ScenarioContext) -> list[Path]:
    """Every file the cloud wrote beside its database: logs, error output, caches."""
    database = set(raw_files(ctx.cloud.db_path, None))
    skipped_dirs = {ctx.cloud.backup_dir, ctx.cloud.tls_dir, ctx.workdir / EGRESS_DIR}
    skipped_dirs |= {f.state_dir for f in ctx.families.values() if f.state_dir}
    found = []
    for path in sorted(ctx.workdir.rglob("*")):
        if not path.is_file() or path in database or path.name in NOT_CLOUD_STORES:
            continue
        if any(d in path.parents for d in skipped_dirs):
            continue
        if path.name.startswith("toy-") or path.suffix == ".wav":
            continue  # the toy's own stderr, and clips a step made for the toy to hear
        found.append(path)
    return found


@check("logs_clean")
def logs_clean(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """No child value in the cloud's stdout, stderr, log files or caches (R30)."""
    values = str_list(args, "values")
    stores = cloud_stores(ctx)
    if not any(path.name == ctx.cloud.log_path.name for path in stores):
        raise FileNotFoundError(f"the cloud's output was not captured at {ctx.cloud.log_path}")
    hits = find_in_files(stores, values)
    size = sum(path.stat().st_size for path in stores)
    names = ", ".join(path.name for path in stores)
    return held_if([f"child content in {hit}" for hit in hits],
                   f"none of {values} in {len(stores)} files beside the database "
                   f"({size:,} bytes: {names})")


def _audit_rows(ctx: ScenarioContext, child_id: int) -> list[tuple[int, str, dict[str, Any]]]:
    with read_only(ctx.cloud.database) as db:
        rows = db.execute("SELECT seq, action, details_json FROM audit_log WHERE subject = ? "
                          "ORDER BY seq", [f"child:{child_id}"]).fetchall()
    return [(int(seq), str(action), json.loads(details or "{}")) for seq, action, details in rows]


@check("erasure_proved")
def erasure_proved(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """After a restart the last erasure of the child is finished and its proof recorded: a
    clean proof entry in the audit log, `teddy cloud verify-erasure` finds no canary, and
    neither does an independent scan of every file (R32)."""
    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    values = str_list(args, "values")
    deadline = time.monotonic() + arg(args, "within_s", float, 5.0)
    problems: list[str] = []
    while True:
        rows = _audit_rows(ctx, child_id)
        erasures = [seq for seq, action, _ in rows if action == ERASE_ACTION]
        proofs = [(seq, d) for seq, action, d in rows if action == PROOF_ACTION
                  and erasures and seq > erasures[-1]]
        clean = [d for _seq, d in proofs
                 if d.get("scope") == CLEAN_PROOF_SCOPE[ctx.cloud.backend]]
        if clean or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if not erasures:
        problems.append("no erasure of the child is in the audit log")
    elif not proofs:
        problems.append("the erasure has no proof entry in the audit log: it was never "
                        "finished after the kill")
    elif not clean:
        problems.append(f"the erasure's proof says {proofs[-1][1].get('scope')!r}, not "
                        f"{CLEAN_PROOF_SCOPE[ctx.cloud.backend]!r}")
    command = ["verify-erasure", "--db", ctx.cloud.database, "--backup-dir",
               str(ctx.cloud.backup_dir)]
    for value in values:
        command += ["--canary", value]
    verify = ctx.cloud.run_cli(*command)
    verdict = (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1:]
    if _declines_postgres(ctx, verify.returncode, " ".join(verdict)):
        # The cloud's verify-erasure is a byte scan of SQLite files, which it refuses on
        # PostgreSQL (see scenarios/backend.py); the proof entry and the row scan remain.
        verdict = ["does not apply on PostgreSQL (the cloud says it scans SQLite files only)"]
    elif verify.returncode != 0:
        problems.append(f"verify-erasure exited {verify.returncode}: {' '.join(verdict)}")
    hits, where = copies_left(ctx.cloud, values)
    problems += [f"still in {where}: {hit}" for hit in hits]
    return held_if(problems, f"proof on record ({clean[-1] if clean else '-'}); "
                             f"verify-erasure: {' '.join(verdict)}; independent scan of "
                             f"{where} clean")


def _declines_postgres(ctx: ScenarioContext, returncode: int, said: str) -> bool:
    """verify-erasure refusing, as a usage error, to scan a PostgreSQL database's files. Only
    that exact refusal is excused: any other failure, on either backend, is a problem."""
    return (ctx.cloud.backend == "postgresql" and returncode == 2
            and "SQLite database files only" in said)


@check("retry_honest")
def retry_honest(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """A parent asking again is never told there is nothing to delete while copies of the
    child's values remain in any file (R32)."""
    family = ctx.family(arg(args, "family", str, "a"))
    if family.retry is None:
        raise ValueError(f"family {family.name!r} has not retried a deletion (retry_delete_all)")
    status = int(family.retry["status"])
    copies, where = copies_left(ctx.cloud, str_list(args, "values"))
    said = ("a receipt" if family.retry["receipt"] else
            "erasure in progress" if status == 202 else f"{status}")
    if status >= 400 and copies:
        return Observation(False, f"the retry answered {status} ({family.retry['text']!r}) "
                                  f"while copies remain in {where}: {'; '.join(copies[:4])}")
    return Observation(True, f"the retry showed {said}; "
                             f"{len(copies)} copies left in {where} at that moment")
