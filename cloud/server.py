"""Run the cloud under gunicorn, a production WSGI server, optionally over TLS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from cloud.config import CloudConfig
from cloud.storage import checkpointer
from cloud.storage.db import close_worker_connections

WsgiApp = Callable[..., Any]
# Threads per worker run the app only: requests are read whole before a thread sees them
# (cloud.server_worker), so a handful is enough for two cores and SQLite's one writer.
THREADS_PER_WORKER = 2
WORKER_CLASS = "cloud.server_worker.BufferingThreadWorker"


class WsgiServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn around any WSGI app factory, configured from a dict instead of argv."""

    def __init__(self, app_factory: Callable[[], WsgiApp], options: dict[str, Any]) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        return self.app_factory()


def _checkpoint_in_background(db_path: str) -> Callable[[Any, Any], None]:
    def post_fork(_server: Any, _worker: Any) -> None:
        checkpointer.start(db_path)

    return post_fork


def _close_connections(_server: Any, _worker: Any) -> None:
    # Checkpointer first, so the worker's own connection is the last to close and the WAL
    # is folded back into the database file.
    checkpointer.stop_all()
    close_worker_connections()


def gunicorn_options(*, host: str, port: int, workers: int, db_path: str,
                     certfile: str | None = None, keyfile: str | None = None,
                     access_log: bool = False,
                     worker_class: str = WORKER_CLASS) -> dict[str, Any]:
    """The settings every Teddy server runs with; the benchmark's baseline uses them too."""
    return {
        # Each worker moves WAL frames back in its own thread, so no request waits on an fsync.
        "post_fork": _checkpoint_in_background(db_path),
        "worker_exit": _close_connections,
        "bind": f"{host}:{port}",
        "workers": workers,
        # Reads each request whole, with a deadline, before a thread runs it: slow or idle
        # clients cannot tie up a worker (docs/cloud.md, "Slow clients").
        "worker_class": worker_class,
        "threads": THREADS_PER_WORKER,
        # The app migrates the schema once in the master before workers fork.
        "preload_app": True,
        "certfile": certfile,
        "keyfile": keyfile,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        # Control characters a client put in a path or header are escaped in every log line,
        # so no request can forge one (cloud.server_logging).
        "logger_class": "cloud.server_logging.EscapingLogger",
        "loglevel": "warning",
        # Files gunicorn itself creates (worker heartbeat files) are owner-only too.
        "umask": 0o077,
        "graceful_timeout": 5,
        "timeout": 30,
    }


def serve(config: CloudConfig, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 2,
          certfile: str | None = None, keyfile: str | None = None,
          access_log: bool = False) -> None:
    from cloud.app import create_app

    options = gunicorn_options(host=host, port=port, workers=workers, db_path=config.db_path,
                               certfile=certfile, keyfile=keyfile, access_log=access_log)
    WsgiServer(lambda: create_app(config), options).run()
