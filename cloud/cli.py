"""`teddy cloud ...` commands."""

from __future__ import annotations

import argparse
import sys

from cloud.command_guard import guarded
from cloud.config import CloudConfig
from cloud.storage.files import DatabaseFileError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cloud = subparsers.add_parser("cloud", help="run and manage the Teddy cloud")
    sub = cloud.add_subparsers(dest="cloud_command", required=True)

    serve = sub.add_parser("serve", help="serve the cloud under gunicorn")
    serve.add_argument("--db", required=True, help="SQLite database file (created if missing)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--config", help="YAML configuration file")
    serve.add_argument("--clock-file", help="file holding a clock offset in seconds (testing)")
    serve.add_argument("--tls", action="store_true", help="serve HTTPS with a local CA")
    serve.add_argument("--tls-dir", help="where the local CA and server key live")
    serve.set_defaults(handler=_serve)

    verify_audit = sub.add_parser("verify-audit", help="check the audit log's hash chain")
    verify_audit.add_argument("--db", required=True)
    verify_audit.set_defaults(handler=_verify_audit)

    from cloud.retention.cli import register_retention

    register_retention(sub)


@guarded("serve", must_exist=False)
def _serve(args: argparse.Namespace) -> int:
    from cloud.server import serve

    try:
        config = CloudConfig.from_sources(args.config, db_path=args.db, clock_file=args.clock_file)
    except (OSError, ValueError) as exc:
        print(f"teddy cloud serve: {exc}", file=sys.stderr)
        return 2
    certfile = keyfile = None
    if args.tls:
        from cloud.tls import ensure_server_certificate

        paths = ensure_server_certificate(args.tls_dir or f"{args.db}.tls", host=args.host)
        certfile, keyfile = str(paths.server_cert), str(paths.server_key)
        print(f"TLS: toys should pin the CA at {paths.ca_cert}", file=sys.stderr)
    serve(config, host=args.host, port=args.port, workers=args.workers, certfile=certfile,
          keyfile=keyfile)
    return 0


@guarded("verify-audit")
def _verify_audit(args: argparse.Namespace) -> int:
    """Exit 0 intact, 1 tampered, 2 cannot be checked (no file, not a database, damaged)."""
    from cloud import audit
    from cloud.storage.db import open_db

    # Verifying must not upgrade the file it is asked about.
    db = open_db(args.db, migrate_schema=False)
    try:
        if "audit_log" not in db.table_names():
            raise DatabaseFileError(f"{args.db} has no audit log")
        result = audit.verify(db)
    finally:
        db.close()
    if result.ok:
        print(f"audit log intact: {result.entries} entries")
        return 0
    print(f"audit log TAMPERED at entry {result.first_bad_seq}: {result.problem}")
    return 1
