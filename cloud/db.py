"""What a request handler reaches for: this worker's database connection and the app's clock.

As in the Flask tutorial, the blueprints import this module and the app factory calls
init_app; nothing here imports a blueprint or the factory, so there is no import loop.
"""

from __future__ import annotations

import sqlite_utils
from flask import Flask, current_app, g

from cloud.clock import Clock
from cloud.storage.db import release, worker_connection

CLOCK = "teddy.clock"


def get_db() -> sqlite_utils.Database:
    if "db" not in g:
        # Reused across requests: opening a connection costs more than a device request.
        g.db = worker_connection(current_app.config["TEDDY"].db_path)
    return g.db


def get_clock() -> Clock:
    return current_app.extensions[CLOCK]


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        release(db)


def init_app(app: Flask, clock_file: str | None) -> None:
    app.extensions[CLOCK] = Clock(clock_file)
    app.teardown_appcontext(close_db)
