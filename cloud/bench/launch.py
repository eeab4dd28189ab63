"""Start one benchmark target under gunicorn: `python -m cloud.bench.launch cloud|bare ...`.

Both targets go through this one launcher so they run under identical server settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cloud.server import WORKER_CLASS, WsgiServer, gunicorn_options


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cloud.bench.launch")
    parser.add_argument("target", choices=["cloud", "bare"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default=WORKER_CLASS,
                        help="gunicorn worker class (the slow-client bench compares with sync)")
    parser.add_argument("--certfile", help="serve TLS with this certificate (and --keyfile)")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)
    options = gunicorn_options(host="127.0.0.1", port=args.port, workers=args.workers,
                               db_path=args.db, worker_class=args.worker_class,
                               certfile=args.certfile, keyfile=args.keyfile)
    if args.target == "cloud":
        from cloud.app import create_app

        WsgiServer(lambda: create_app(db_path=args.db), options).run()
    else:
        from cloud.bench.bare_app import create_bare_app

        WsgiServer(lambda: create_bare_app(args.db), options).run()


if __name__ == "__main__":
    main()
