"""The Flask application factory: configuration, one database connection per request, blueprints.

The blueprints reach the request's database and clock through cloud/db.py, never through this
module, so the factory can import them at the top without an import loop."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, redirect, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from cloud import db as db_for_requests
from cloud import seam
from cloud.clock import Clock
from cloud.config import CloudConfig
from cloud.device_api import bp as device_api
from cloud.errors import register_error_handlers
from cloud.fleet.session_key import shared_session_key
from cloud.health import bp as health
from cloud.keys import store as keys
from cloud.parent_web import bp as parent_web
from cloud.parent_web.uploads import InMemoryUploads
from cloud.retention.scheduler import start_erasure_runner, start_purge_scheduler
from cloud.retention.tombstones import before_serving
from cloud.sessions import CloudSessions
from cloud.storage.db import open_db
from teddy.content import content_catalogue
from teddy.contracts.data_map import data_map
from teddy.contracts.intent_message import MAX_BODY_BYTES

# Parent forms carry more than an intent message, but never more than this.
MAX_FORM_BYTES = 64 * 1024


def create_app(config: CloudConfig | None = None, **overrides: Any) -> Flask:
    seam.refuse_outside_testbed("create_app")
    config = config or CloudConfig.from_sources(**overrides)
    # Before the first migration: schema step v9 seals old plaintext with keys kept there.
    keys.configure(config.db_path, config.key_store)
    # Migrate once at start-up so requests never race a schema change.
    db = open_db(config.db_path)
    try:
        if not config.secret_key:
            config.secret_key = shared_session_key(db, config.db_path)
        # A lost key store is refused, and erasures a restore undid are redone, before serving.
        before_serving(db, db_path=config.db_path, now=Clock(config.clock_file).time(),
                       backup_dir=config.backup_dir)
    finally:
        db.close()
    app = Flask(__name__)
    app.request_class = InMemoryUploads
    app.config.update(
        TEDDY=config,
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.session_cookie_secure,
    )
    db_for_requests.init_app(app, config.clock_file)
    app.session_interface = CloudSessions()
    if config.proxy_hops:
        # request.remote_addr, the scheme and the host become the client's, as the proxy
        # saw them (links in messages are built from the host: cloud.parent_web.outbox).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.proxy_hops, x_proto=config.proxy_hops,
            x_host=config.proxy_hops, x_port=config.proxy_hops)
    # Parse the data map and reply templates now: under gunicorn's preload this happens once
    # in the master, instead of in each worker's first request (about 50 ms of YAML).
    data_map()
    content_catalogue()

    @app.errorhandler(413)
    def _too_large(_exc: Exception):  # type: ignore[no-untyped-def]
        return jsonify(error="request body too large", limit_bytes=MAX_BODY_BYTES), 413

    register_error_handlers(app)
    _connect_testbed_seam(app)
    app.register_blueprint(health)
    app.register_blueprint(device_api)
    app.register_blueprint(parent_web)

    @app.get("/")
    def _home():  # type: ignore[no-untyped-def]
        # People type the bare address; the parent pages are what they are looking for.
        return redirect(url_for("parent_web.home"))

    start_purge_scheduler(app)
    start_erasure_runner(app)
    return app


def _connect_testbed_seam(app: Flask) -> None:
    """A negative control's hook on every request (cloud/seam.py); only with a seam installed,
    so the real cloud registers nothing here."""
    installed = seam.installed()
    if installed is None:
        return
    from flask import request

    @app.before_request
    def _seam_on_request() -> None:
        installed.on_request(request)
