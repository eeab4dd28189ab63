"""Liveness for process supervisors and scenario runners."""

from flask import Blueprint, jsonify

from cloud.app import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    get_db().execute("SELECT 1").fetchone()
    return jsonify(status="ok")
