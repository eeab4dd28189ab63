"""`teddy cloud ...` commands."""

from __future__ import annotations

import argparse
import errno
import socket
import sys

from cloud.command_guard import guarded
from cloud.config import CloudConfig
from cloud.storage.files import DatabaseFileError
from cloud.storage.url import backend_of, sqlite_path
from teddy.json_output import JsonSink, add_json_options, wants_json

WILDCARD_HOSTS = ("0.0.0.0", "::", "")
DB_HELP = ("the cloud's database: an SQLite file path, sqlite:///relative/path, "
           "sqlite:////absolute/path, or postgresql://user@host/database")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cloud = subparsers.add_parser("cloud", help="run and manage the Teddy cloud")
    sub = cloud.add_subparsers(dest="cloud_command", required=True)

    serve = sub.add_parser(
        "serve", help="serve the cloud under gunicorn",
        description="Serve the parent pages and the toy's device API with gunicorn. On start it "
                    "prints the addresses to open; on a busy port it exits 2.")
    serve.add_argument("--db", required=True,
                       help=DB_HELP + " (an SQLite file is created if missing; a PostgreSQL "
                            "database must exist and is given the schema on first start)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on: 0.0.0.0 for every network interface (a toy "
                            "on another machine), or this machine's LAN address (also named in "
                            "the TLS certificate)")
    serve.add_argument("--port", type=int, default=8080, help="TCP port to listen on")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    serve.add_argument("--config", help="YAML configuration file (TEDDY_* variables override it)")
    serve.add_argument("--clock-file", help="file holding a clock offset in seconds (testing)")
    serve.add_argument("--key-store",
                       help="the file where per-child keys live, never backed up with the "
                            "data (default: <db>.child-keys for SQLite; for PostgreSQL "
                            "~/.local/state/teddy/child-keys/<host>-<port>-<database>"
                            ".child-keys); every app server of a fleet needs the same one")
    serve.add_argument("--tls", action="store_true",
                       help="serve HTTPS with certificates from a local CA; copy its ca.pem to "
                            "each toy and pair with --ca")
    serve.add_argument("--tls-dir", help="where the local CA and server key live "
                                         "(default: <db>.tls; required with PostgreSQL)")
    serve.set_defaults(handler=_serve)

    verify_audit = sub.add_parser("verify-audit", help="check the audit log's hash chain")
    verify_audit.add_argument("--db", required=True, help=DB_HELP)
    add_json_options(verify_audit, "the result")
    verify_audit.set_defaults(handler=_verify_audit)

    from cloud.retention.cli import register_retention

    register_retention(sub)
    from cloud.parent_web.mail_cli import register_mailbox

    register_mailbox(sub)


@guarded("serve", must_exist=False)
def _serve(args: argparse.Namespace) -> int:
    try:
        config = CloudConfig.from_sources(args.config, db_path=args.db, clock_file=args.clock_file,
                                          key_store=args.key_store)
    except (OSError, ValueError) as exc:
        print(f"teddy cloud serve: {exc}", file=sys.stderr)
        return 2
    problem = port_problem(args.host, args.port)
    if problem:
        print(f"teddy cloud serve: {problem}", file=sys.stderr)
        return 2
    from cloud.server import serve

    certfile = keyfile = None
    scheme = "http"
    if args.tls:
        from cloud.tls import ensure_server_certificate

        tls_dir = args.tls_dir or (f"{sqlite_path(args.db)}.tls"
                                   if backend_of(args.db) == "sqlite" else None)
        if tls_dir is None:
            print("teddy cloud serve: with a PostgreSQL --db, name where the TLS keys live "
                  "with --tls-dir", file=sys.stderr)
            return 2
        paths = ensure_server_certificate(tls_dir,
                                          host=certificate_host(args.host))
        certfile, keyfile = str(paths.server_cert), str(paths.server_key)
        scheme = "https"
        print(f"TLS: copy {paths.ca_cert} to each toy and pair it with --ca", flush=True)
    for line in served_addresses(scheme, args.host, args.port):
        print(line, flush=True)
    serve(config, host=args.host, port=args.port, workers=args.workers, certfile=certfile,
          keyfile=keyfile)
    return 0


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, in words that say what to do, or None."""
    if not 0 <= port <= 65535:
        return f"--port {port} is not a TCP port (0-65535)"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gunicorn does, so a port in TIME_WAIT after a restart is not reported as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is in use; stop whatever listens there or "
                        f"choose another with --port")
            if exc.errno == errno.EACCES:
                return f"not allowed to listen on port {port}; choose one above 1023 with --port"
            return f"cannot listen on {host}:{port} ({exc.strerror}); check --host"
    return None


def certificate_host(host: str) -> str:
    """The address the server certificate names besides loopback: the one toys connect to.

    Listening on every interface, that is this machine's LAN address.
    """
    return (_lan_address() or host) if host in WILDCARD_HOSTS else host


def served_addresses(scheme: str, host: str, port: int) -> list[str]:
    """The lines telling a person where to go: the parent pages and the toys' API."""
    shown = host
    if host in WILDCARD_HOSTS:
        shown = _lan_address() or "127.0.0.1"
    base = f"{scheme}://{shown}:{port}" if ":" not in shown else f"{scheme}://[{shown}]:{port}"
    lines = [f"Teddy cloud listening on {host}:{port}",
             f"  parents open   {base}/parent/",
             f"  toys pair with {base}  (device API at {base}/api/v1/)"]
    if host in ("127.0.0.1", "localhost", "::1"):
        lines.append("  only this machine can reach it; --host 0.0.0.0 lets a toy on the LAN in")
    lines.append("Press Ctrl-C to stop.")
    return lines


def _lan_address() -> str | None:
    """This machine's address on its default route, found without sending a packet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # connect() on UDP only picks a route and source address; nothing is sent.
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("0.") else address


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
    if wants_json(args):
        with JsonSink(args) as sink:
            sink.document({"intact": result.ok, "entries": result.entries,
                           "first_bad_seq": result.first_bad_seq, "problem": result.problem})
        if args.json:
            return 0 if result.ok else 1
    if result.ok:
        print(f"audit log intact: {result.entries} entries")
        return 0
    print(f"audit log TAMPERED at entry {result.first_bad_seq}: {result.problem}")
    return 1
