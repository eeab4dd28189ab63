"""Checks on what the cloud stores: rows, raw file bytes, the schema, consents, the audit log."""

from __future__ import annotations

import re
from typing import Any

from cloud import audit
from cloud.retention.proof import scan_for_canaries
from scenarios.args import ArgumentError, arg, str_list
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import (
    columns,
    find_in_files,
    guard_triggers,
    quoted,
    raw_files,
    read_only,
    tables,
)
from scenarios.checks.sealed import readable_copies
from scenarios.context import ScenarioContext
from teddy.contracts.data_map import data_map

# R08's allowed verification methods, as the rulebook lists them.
ALLOWED_METHODS = frozenset({
    "signed_form", "payment_card", "video_call", "government_id", "knowledge_questions",
    "face_match", "email_plus", "text_plus",
})
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
MAX_RETENTION_DAYS = 3650


def _child_id(ctx: ScenarioContext, args: dict[str, Any]) -> int:
    return ctx.family(arg(args, "family", str, "a")).require_child()


def _identifier(name: str) -> str:
    if not IDENTIFIER.fullmatch(name):
        raise ArgumentError(f"{name!r} is not a table or column name")
    return name


@check("db_rows")
def db_rows(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """How many rows of a table (for one family's child, matching `where`) the file holds."""
    table = _identifier(arg(args, "table", str))
    where: dict[str, Any] = arg(args, "where", dict, {})
    clauses, params = [], []
    with read_only(ctx.cloud.database) as db:
        present = columns(db, table) if table in tables(db) else []
        if "family" in args:
            if "child_id" not in present and table != "children":
                raise ArgumentError(f"{table} has no child_id column")
            clauses.append("id = ?" if table == "children" else "child_id = ?")
            params.append(_child_id(ctx, args))
        for column, value in where.items():
            if _identifier(column) not in present:
                raise ArgumentError(f"{table} has no column {column!r}")
            clauses.append(f"{quoted(column)} IS NULL" if value is None
                           else f"{quoted(column)} = ?")
            params += [] if value is None else [value]
        sql = f"SELECT COUNT(*) FROM {quoted(table)}" + (" WHERE " + " AND ".join(clauses)
                                                        if clauses else "")
        count = int(db.execute(sql, params).fetchone()[0]) if present else 0
    low = arg(args, "min", int, arg(args, "count", int, 0))
    high = arg(args, "max", int, arg(args, "count", int, 10**9))
    described = f"{table} rows{' where ' + ', '.join(map(str, where.items())) if where else ''}"
    ok = low <= count <= high
    return Observation(ok, f"{count} {described} (expected {low}..{high})" if high < 10**9
                       else f"{count} {described} (expected at least {low})")


@check("child_gone_from_db")
def child_gone_from_db(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """No table holds a row about the child or the child's toy (R18)."""
    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    device = family.device_id
    problems: list[str] = []
    checked = 0
    with read_only(ctx.cloud.database) as db:
        for table in tables(db):
            present = columns(db, table)
            keys = [("child_id", child_id)] if "child_id" in present else []
            if table == "children":
                keys.append(("id", child_id))
            if device and "device_id" in present:
                keys.append(("device_id", device))
            if device and table == "devices":
                keys.append(("id", device))
            for column, value in keys:
                checked += 1
                count = db.execute(f"SELECT COUNT(*) FROM {quoted(table)} WHERE "
                                   f"{quoted(column)} = ?", [value]).fetchone()[0]
                if count:
                    problems.append(f"{table}.{column} still has {count} rows for the child")
    return held_if(problems, f"no row left for the child or its toy ({checked} keyed lookups "
                             "across every table)")


@check("canary_absent_from_files")
def canary_absent_from_files(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The raw bytes of the database, WAL, journal and backups hold none of the values (R19)."""
    values = str_list(args, "values")
    files = raw_files(ctx.cloud.db_path, ctx.cloud.backup_dir)
    found = [f"found {hit}" for hit in find_in_files(files, values)]
    size = sum(path.stat().st_size for path in files)
    # The cloud's own proof scan (what `teddy cloud verify-erasure` runs) must agree with
    # this independent, case-blind one.
    proof = scan_for_canaries(ctx.cloud.db_path, values, ctx.cloud.backup_dir)
    found += [f"the cloud's proof scan found a canary at {hit.file}:{hit.offset}"
              for hit in proof]
    # Sealed copies count when a key that still exists opens them (per-child keys).
    found += [f"readable {hit}" for hit in
              readable_copies(ctx.cloud.db_path, ctx.cloud.backup_dir, values)]
    return held_if(found, f"{len(values)} canaries absent from {len(files)} files, {size:,} "
                          f"bytes, in plain text and in any sealed copy a live key opens; the "
                          f"cloud's own proof scan agrees")


@check("schema_matches_data_map")
def schema_matches_data_map(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Every live table and column is declared with category, purpose, basis, retention (R15)."""
    dmap = data_map()
    problems: list[str] = []
    counted = 0
    with read_only(ctx.cloud.database) as db:
        for table in tables(db):
            spec = dmap.tables.get(table)
            if spec is None:
                problems.append(f"table {table} is not in the data map")
                continue
            days = spec.get("retention", {}).get("days")
            if not isinstance(days, int) or not 0 <= days <= MAX_RETENTION_DAYS:
                problems.append(f"table {table} has no finite retention ({days!r})")
            declared = spec["columns"]
            for column in columns(db, table):
                counted += 1
                entry = declared.get(column)
                if entry is None:
                    problems.append(f"{table}.{column} is not in the data map")
                elif not (entry.get("category") in dmap.categories
                          and entry.get("purpose") in dmap.purposes
                          and entry.get("legal_basis")):
                    problems.append(f"{table}.{column} lacks a category, purpose or basis")
    for purpose in dmap.purposes.values():
        if not 0 <= purpose.retention_days <= MAX_RETENTION_DAYS:
            problems.append(f"purpose {purpose.name} has no finite retention")
    return held_if(problems, f"{counted} live columns all declared, every retention finite")


@check("consent_records_complete")
def consent_records_complete(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Each consent row says who, when, which notice, which purpose and how verified (R08)."""
    child_id = _child_id(ctx, args)
    consentable = set(data_map().consentable_purposes)
    with read_only(ctx.cloud.database) as db:
        rows = db.execute("SELECT parent_id, granted_at, notice_version, purpose, method "
                          "FROM consents WHERE child_id = ?", [child_id]).fetchall()
    problems = [f"consent {row!r} is incomplete or uses an unlisted method" for row in rows
                if not (row[0] and row[1] and row[1] > 0 and isinstance(row[2], int) and row[2] >= 1
                        and row[3] in consentable and row[4] in ALLOWED_METHODS)]
    if not rows:
        problems.append("no consent record at all")
    methods = sorted({row[4] for row in rows})
    return held_if(problems, f"{len(rows)} consent records, each with parent, time, notice "
                             f"version, purpose and an allowed method ({', '.join(methods)})")


@check("audit_intact")
def audit_intact(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """The hash chain verifies, the listed actions are logged, no child content is in it (R27)."""
    problems: list[str] = []
    with read_only(ctx.cloud.database) as db:
        # The same verification `teddy cloud verify-audit` runs, on a read-only connection.
        chain = audit.verify(db)  # type: ignore[arg-type]
        if not chain.ok:
            problems.append(f"audit chain broken at entry {chain.first_bad_seq}: {chain.problem}")
        rows = db.execute("SELECT action, actor, subject, details_json FROM audit_log").fetchall()
        guarded = guard_triggers(db, "audit_log")
    actions = {row[0] for row in rows}
    problems += [f"no {action!r} entry" for action in str_list(args, "actions", [])
                 if action not in actions]
    text = " ".join(" ".join(map(str, row)) for row in rows).lower()
    problems += [f"child content {value!r} in the audit log"
                 for value in str_list(args, "values", []) if value.lower() in text]
    if not {"UPDATE", "DELETE"} <= guarded:
        problems.append(f"audit_log is not guarded against UPDATE and DELETE (triggers on "
                        f"{sorted(guarded)})")
    return held_if(problems, f"hash chain of {chain.entries} entries intact; actions "
                             f"{sorted(actions)}; "
                             "no child content; UPDATE/DELETE refused by triggers")

