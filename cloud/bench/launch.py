"""Start one benchmark target under gunicorn: `python -m cloud.bench.launch cloud|bare ...`.

Both targets go through this one launcher so they run under identical server settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cloud.server import WsgiServer, gunicorn_options


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cloud.bench.launch")
    parser.add_argument("target", choices=["cloud", "bare"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    options = gunicorn_options(host="127.0.0.1", port=args.port, workers=args.workers,
                               db_path=args.db)
    if args.target == "cloud":
        from cloud.app import create_app

        WsgiServer(lambda: create_app(db_path=args.db), options).run()
    else:
        from cloud.bench.bare_app import create_bare_app

        WsgiServer(lambda: create_bare_app(args.db), options).run()


if __name__ == "__main__":
    main()
