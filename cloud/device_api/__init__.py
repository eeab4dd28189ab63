"""The device API under /api: what a paired toy may send and receive, and its description."""

from flask import Blueprint

from cloud.device_api.routes import bp as v1
from cloud.openapi import bp as openapi

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_blueprint(v1)
bp.register_blueprint(openapi)


__all__ = ["bp"]
