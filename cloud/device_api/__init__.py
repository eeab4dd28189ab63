"""The device API under /api: what a paired toy may send and receive, and its description."""

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

from cloud.device_api.routes import bp as v1
from cloud.device_api.sessionless import SessionlessDeviceApi
from cloud.openapi import bp as openapi

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_blueprint(v1)
bp.register_blueprint(openapi)


@bp.record_once
def _skip_sessions_for_devices(state: BlueprintSetupState) -> None:
    state.app.session_interface = SessionlessDeviceApi()


__all__ = ["bp"]
