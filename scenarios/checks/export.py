"""The parent's export against the data map: every declared table, every declared column.

`export_complete` compares a few tables a story names; this check walks the data map itself,
so a table added to the cloud later, and held about the child, cannot be left out of the
parent's download unnoticed (R22). How a table is tied to a child comes from its declared
columns: the child's own row, a `child_id`, a `device_id` of one of the child's toys, or an
audit entry about the child. Rows are counted from the database, read-only, on either backend.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cloud import audit
from scenarios.args import arg
from scenarios.checks import Observation, check, held_if
from scenarios.checks.dbview import ReadOnlyDatabase, quoted, read_only, tables
from scenarios.context import ScenarioContext
from teddy.contracts.data_map import data_map


def _link(table: str, declared: set[str], child_id: int, devices: list[str]
          ) -> tuple[str, list[Any]] | None:
    """The WHERE clause that finds the child's rows in `table`, or None if none can be."""
    if table == "children":
        return "id = ?", [child_id]
    if table == "audit_log":
        return "subject = ?", [audit.subject_ref("child", child_id)]
    if "child_id" in declared:
        return "child_id = ?", [child_id]
    if "device_id" in declared:
        marks = ", ".join("?" for _ in devices) or "NULL"
        return f"device_id IN ({marks})", list(devices)
    return None


def _held(db: ReadOnlyDatabase, child_id: int) -> tuple[dict[str, int], list[str]]:
    """Rows held about the child per declared table, and the tables that cannot hold any."""
    devices = [row[0] for row in db.execute("SELECT id FROM devices WHERE child_id = ?",
                                            [child_id])]
    live = set(tables(db))
    held: dict[str, int] = {}
    unrelated: list[str] = []
    for table, spec in data_map().tables.items():
        link = _link(table, set(spec["columns"]), child_id, devices)
        if link is None:
            unrelated.append(table)
        elif table in live:
            where, params = link
            held[table] = int(db.execute(f"SELECT COUNT(*) FROM {quoted(table)} WHERE {where}",
                                         params).fetchone()[0])
    return held, unrelated


@check("export_covers_data_map")
def export_covers_data_map(ctx: ScenarioContext, args: dict[str, Any]) -> Observation:
    """Every data-map table's rows about the child are in the export, each with every declared
    column, and every category they hold is explained (R22)."""
    family = ctx.family(arg(args, "family", str, "a"))
    child_id = family.require_child()
    # Counted just before the download: the export then adds its own audit entry.
    with read_only(ctx.cloud.database) as db:
        held, unrelated = _held(db, child_id)
    document = family.require_parent().export(child_id)
    family.export = document
    records = document.get("records", [])
    exported = Counter(str(r.get("table")) for r in records)
    dmap = data_map()
    problems = [f"{table}: {count} row(s) held about the child, {exported[table]} exported"
                for table, count in held.items() if exported[table] != count]
    problems += [f"{table}: {count} exported record(s) of a table that holds none"
                 for table, count in exported.items() if table not in held]
    for record in records:
        table = str(record.get("table"))
        declared = set(dmap.tables.get(table, {}).get("columns", {}))
        given = {str(v.get("field")) for v in record.get("values", [])}
        if declared - given:
            problems.append(f"{table}: a record lacks {sorted(declared - given)}")
    explained = set(document.get("categories", {}))
    needed = {spec["category"] for table, count in held.items() if count
              for spec in dmap.tables[table]["columns"].values()}
    if needed - explained:
        problems.append(f"categories held but not explained: {sorted(needed - explained)}")
    shown = ", ".join(f"{t} {n}" for t, n in held.items() if n)
    return held_if(problems, f"all {len(held)} data-map tables that can hold the child's data "
                             f"match the export row for row ({shown}; the rest hold none), "
                             f"every declared column present; {len(unrelated)} tables cannot "
                             f"hold a child's data ({', '.join(unrelated)})")
