"""`teddy cloud purge | verify-erasure | backup`: retention from the command line.

Each prints a short text report, or with `--json` one JSON document (the same facts) on stdout.

All three work while the server runs: SQLite's WAL lets them read alongside it, and its busy
timeout queues their writes behind the server's. `purge` works on PostgreSQL too; the other
two read and write SQLite files, and on PostgreSQL say what to use instead (exit 2).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from cloud.clock import Clock, iso
from cloud.command_guard import SqliteOnly, guarded, plain_database_arg, require_sqlite
from cloud.config import CloudConfig
from cloud.fleet import lease
from cloud.storage.url import backend_of, sqlite_path
from teddy.json_output import JsonSink, add_json_options

DB_HELP = ("the cloud's database: an SQLite file path, sqlite:///path, or "
           "postgresql://user@host/database")
NO_BACKUP_ON_POSTGRES = ("use pg_dump or pg_basebackup (and keep the key store out of what "
                         "they write)")
NO_BYTE_SCAN_ON_POSTGRES = ("the server's files, WAL, replicas and base backups are not this "
                            "cloud's to scan; see docs/cloud.md, \"Backends\"")


def register_retention(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    purge = sub.add_parser("purge", help="delete everything past its retention, now")
    purge.add_argument("--db", required=True, help=DB_HELP)
    purge.add_argument("--clock-file", help="file holding the clock offset in seconds (testing)")
    purge.add_argument("--config", help="YAML configuration file")
    purge.add_argument("--key-store",
                       help="where per-child keys live, as given to `teddy cloud serve` "
                            "(default: configured, or beside the database)")
    add_json_options(purge, "what was deleted")
    purge.set_defaults(handler=_purge)

    verify = sub.add_parser(
        "verify-erasure",
        help="search the raw bytes of the database, its -wal/-journal/-shm and backups")
    verify.add_argument("--db", required=True,
                        help="the cloud's SQLite database file (SQLite only)")
    verify.add_argument("--canary", action="append", required=True,
                        help="a value that must not be found (repeat for more)")
    verify.add_argument("--backup-dir", help="backups to scan too (default: <db>.backups)")
    add_json_options(verify, "the verdict and every finding")
    verify.set_defaults(handler=_verify_erasure)

    backup = sub.add_parser("backup", help="take a consistent backup with SQLite's backup API "
                                           "(SQLite only; on PostgreSQL use pg_dump)")
    backup.add_argument("--db", required=True,
                        help="the cloud's SQLite database file (SQLite only)")
    backup.add_argument("--to", help="backup directory (default: configured, or <db>.backups)")
    backup.add_argument("--clock-file", help="file holding the clock offset in seconds (testing)")
    backup.add_argument("--config", help="YAML configuration file")
    add_json_options(backup, "the backup's path and size")
    backup.set_defaults(handler=_backup)


def _fail(command: str, message: str) -> int:
    print(f"teddy cloud {command}: {message}", file=sys.stderr)
    return 2


def _config(args: argparse.Namespace) -> CloudConfig:
    config = CloudConfig.from_sources(args.config, db_path=args.db, clock_file=args.clock_file,
                                      key_store=getattr(args, "key_store", None))
    # The purge erases inactive children: it must destroy their keys in the store the server
    # uses, not in a default one beside the database.
    from cloud.keys.store import configure

    configure(config.db_path, config.key_store)
    return config


@guarded("purge")
def _purge(args: argparse.Namespace) -> int:
    from cloud.retention.backup import backup_dir_for
    from cloud.retention.purge import purge_expired
    from cloud.storage.db import open_db

    on_file = backend_of(args.db) == "sqlite"
    if on_file and not Path(sqlite_path(args.db)).exists():
        return _fail("purge", f"no database at {args.db}")
    try:
        config = _config(args)
        now = Clock(config.clock_file).time()
    except (OSError, ValueError) as exc:
        return _fail("purge", str(exc))
    db = open_db(args.db)
    try:
        from cloud.retention.tombstones import before_serving

        before_serving(db, db_path=config.db_path, now=now, backup_dir=config.backup_dir)
        # One purge at a time across every app server and cron job on this database: wait
        # for a scheduled purge that is running to finish (or its holder's lease to expire).
        with lease.holding(args.db, lease.PURGE, wait=True):
            report = purge_expired(db, now, inactive_profile_days=config.inactive_profile_days,
                                   backup_dir=(backup_dir_for(sqlite_path(args.db),
                                                              config.backup_dir)
                                               if on_file else None))
    except lease.LeaseLost as exc:
        return _fail("purge", f"{exc} (this purge was paused past its lease)")
    finally:
        db.close()
    summary = {"rows": report.rows, "total_rows": report.total_rows,
               "children_erased": report.children_erased, "receipts": report.receipts,
               "erasures_finished": report.erasures_finished,
               "backups_deleted": report.backups_deleted,
               "backups_rewritten": report.backups_rewritten,
               "vacuumed": report.vacuumed,
               "checkpoint_complete": report.checkpoint_complete,
               "elapsed_s": round(report.elapsed_s, 3)}
    JsonSink(args).document(summary)
    if not args.json:
        print(_purge_text(summary))
    if not report.checkpoint_complete:
        print("warning: the WAL checkpoint was blocked by an open transaction; purged bytes "
              "may remain in the -wal file until the next purge", file=sys.stderr)
    return 0


def _purge_text(summary: dict) -> str:  # type: ignore[type-arg]
    tables = ", ".join(f"{table} {count}" for table, count in sorted(summary["rows"].items())
                       if count) or "nothing was past its retention"
    return (f"purged {summary['total_rows']} rows ({tables}); "
            f"{summary['children_erased']} inactive children erased, "
            f"{summary['erasures_finished']} interrupted erasures finished; backups: "
            f"{summary['backups_deleted']} deleted, {summary['backups_rewritten']} rewritten; "
            f"{summary['elapsed_s']:.2f} s")


def _verify_erasure(args: argparse.Namespace) -> int:
    from cloud.retention.backup import backup_dir_for
    from cloud.retention.proof import CanaryError, files_to_scan, scan_for_canaries

    try:
        require_sqlite(args.db, "verify-erasure", NO_BYTE_SCAN_ON_POSTGRES)
        args.db = plain_database_arg(args.db)
    except (SqliteOnly, ValueError) as exc:
        return _fail("verify-erasure", str(exc))
    if not Path(args.db).exists():
        return _fail("verify-erasure", f"no database at {args.db}")
    backup_dir = backup_dir_for(args.db, args.backup_dir)
    if args.backup_dir and not backup_dir.is_dir():
        return _fail("verify-erasure", f"no backup directory at {backup_dir}")
    try:
        findings = scan_for_canaries(args.db, args.canary, backup_dir)
    except CanaryError as exc:
        return _fail("verify-erasure", str(exc))
    files = files_to_scan(args.db, backup_dir)
    scanned_bytes = sum(p.stat().st_size for p in files)
    JsonSink(args).document({
        "clean": not findings, "files_scanned": [str(p) for p in files],
        "bytes_scanned": scanned_bytes, "canaries": len(set(args.canary)),
        "findings": [{"canary": f.canary, "file": f.file, "offset": f.offset}
                     for f in findings]})
    if not args.json:
        for finding in findings:
            print(f"FOUND {finding.canary!r} in {finding.file} at offset {finding.offset}")
        print(f"scanned {len(files)} files ({scanned_bytes} bytes) for "
              f"{len(set(args.canary))} canaries: "
              + (f"{len(findings)} found" if findings else "none found"))
    return 1 if findings else 0


@guarded("backup")
def _backup(args: argparse.Namespace) -> int:
    from cloud.retention.backup import backup_dir_for, create_backup

    require_sqlite(args.db, "backup", NO_BACKUP_ON_POSTGRES)
    if not Path(args.db).exists():
        return _fail("backup", f"no database at {args.db}")
    try:
        config = _config(args)
        now = Clock(config.clock_file).time()
        path = create_backup(args.db, backup_dir_for(args.db, args.to or config.backup_dir), now)
    except (OSError, ValueError) as exc:
        return _fail("backup", getattr(exc, "strerror", None) or str(exc))
    except sqlite3.OperationalError as exc:
        # SQLite reports a full disk as an OperationalError, not an OSError.
        return _fail("backup", f"the backup could not be written ({exc}); nothing was kept")
    JsonSink(args).document({"path": str(path), "bytes": path.stat().st_size,
                             "taken_at": iso(now)})
    if not args.json:
        print(path)
    return 0
