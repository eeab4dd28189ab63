"""The benchmark's baseline: the least a Flask + sqlite-utils service can do per request.

It parses the same JSON body the intent endpoint gets and inserts one row, on a database
opened with the same settings as the cloud's, so the ratio measures only what the real
endpoint adds: signature and replay checks, schema validation, consent and the reply.
"""

from __future__ import annotations

import json
import time

from flask import Flask, Response, jsonify, request

from cloud.storage.db import worker_connection

TABLE_SQL = ("CREATE TABLE IF NOT EXISTS bench_events (id INTEGER PRIMARY KEY, "
             "body TEXT NOT NULL, received_at REAL NOT NULL)")


def create_bare_app(db_path: str) -> Flask:
    setup = worker_connection(db_path)
    setup.execute(TABLE_SQL)
    app = Flask(__name__)

    @app.post("/insert")
    def insert() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="expected a JSON object"), 422
        worker_connection(db_path)["bench_events"].insert(
            {"body": json.dumps(body), "received_at": time.time()})
        return jsonify(ok=True), 200

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app
