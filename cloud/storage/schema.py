"""The schema as it stands in a live database, described the same way on both backends.

Used to hold the two backends to one schema (tests/test_storage_schema_parity.py) and the data
map to the real columns (tests/test_data_map.py). Types are given by their portable names
(TEXT, INTEGER, REAL, BLOB); a primary key's columns count as NOT NULL on both, as they are
in effect; index names are compared only for indexes a migration created by name (SQLite
and PostgreSQL name the ones behind constraints differently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cloud.storage.postgres import PORTABLE_TYPES, PgDatabase

# Tables the database engine keeps for itself.
_INTERNAL = re.compile(r"^sqlite_")


@dataclass
class TableShape:
    columns: list[tuple[str, str, bool, str | None]] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    unique: set[tuple[str, ...]] = field(default_factory=set)
    indexes: set[tuple[str, tuple[str, ...], bool]] = field(default_factory=set)
    foreign_keys: set[tuple[str, str, str, str]] = field(default_factory=set)


def _default(value: Any) -> str | None:
    """'0', '{}' and 0::bigint alike: the literal, without casts or quotes."""
    if value is None:
        return None
    text = re.sub(r"::[a-z ]+$", "", str(value)).strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def describe(db: Any) -> dict[str, TableShape]:
    if isinstance(db, PgDatabase):
        return _describe_postgres(db)
    return _describe_sqlite(db)


def _describe_sqlite(db: Any) -> dict[str, TableShape]:
    shapes: dict[str, TableShape] = {}
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    for table in tables:
        if _INTERNAL.match(table):
            continue
        shape = shapes[table] = TableShape()
        info = db.execute(f'PRAGMA table_info("{table}")').fetchall()
        pk = sorted((r[5], r[1]) for r in info if r[5])
        shape.primary_key = tuple(name for _pos, name in pk)
        shape.columns = [(r[1], (r[2] or "").upper(), bool(r[3]) or bool(r[5]), _default(r[4]))
                         for r in info]
        for _seq, name, unique, origin, _partial in db.execute(
                f'PRAGMA index_list("{table}")').fetchall():
            columns = tuple(r[2] for r in db.execute(f'PRAGMA index_info("{name}")'))
            if origin == "pk":
                continue
            if origin == "c":
                shape.indexes.add((name, columns, bool(unique)))
            if unique:
                shape.unique.add(columns)
        for row in db.execute(f'PRAGMA foreign_key_list("{table}")'):
            shape.foreign_keys.add((row[3], row[2], row[4], row[6].upper()))
    return shapes


def _describe_postgres(db: PgDatabase) -> dict[str, TableShape]:
    shapes: dict[str, TableShape] = {}
    for table in db.table_names():
        shape = shapes[table] = TableShape()
        shape.primary_key = tuple(db[table].pks)
        rows = db.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM "
            "information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()
        shape.columns = [(name, PORTABLE_TYPES.get(kind, f"PG:{kind}"),
                          nullable == "NO", _default(default))
                         for name, kind, nullable, default in rows]
        indexes = db.execute(
            "SELECT ic.relname, i.indisunique, i.indisprimary, "
            "  EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid), "
            "  ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
            "        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "        ORDER BY k.n) "
            "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(?)", [f'"{table}"']).fetchall()
        for name, unique, primary, backs_constraint, columns in indexes:
            if primary:
                continue
            if not backs_constraint:
                shape.indexes.add((name, tuple(columns), bool(unique)))
            if unique:
                shape.unique.add(tuple(columns))
        for column, ref_table, ref_column, on_delete in db.execute(
                "SELECT kcu.column_name, ccu.table_name, ccu.column_name, rc.delete_rule "
                "FROM information_schema.referential_constraints rc "
                "JOIN information_schema.key_column_usage kcu "
                "  ON kcu.constraint_name = rc.constraint_name "
                "  AND kcu.constraint_schema = rc.constraint_schema "
                "JOIN information_schema.constraint_column_usage ccu "
                "  ON ccu.constraint_name = rc.unique_constraint_name "
                "  AND ccu.constraint_schema = rc.unique_constraint_schema "
                "WHERE kcu.table_schema = current_schema() AND kcu.table_name = ?", [table]):
            shape.foreign_keys.add((column, ref_table, ref_column, on_delete.upper()))
    return shapes


def live_columns(db: Any) -> set[tuple[str, str]]:
    """(table, column) for every stored column, on either backend."""
    return {(table, column[0]) for table, shape in describe(db).items()
            for column in shape.columns}
