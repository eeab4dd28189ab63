"""Toys never use cookies: skip Flask's session machinery on device API requests.

Opening a cookie session builds a signing serializer on every request, about a tenth of a
millisecond that the device API, authenticated per request by its HMAC, has no use for.
Parent pages keep the normal signed-cookie session.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

DEVICE_API_PREFIX = "/api/"


class SessionlessDeviceApi(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(DEVICE_API_PREFIX):
            return None  # Flask substitutes a null session, which is never saved
        return super().open_session(app, request)
