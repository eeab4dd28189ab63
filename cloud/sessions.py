"""The cloud's one cookie-session interface, for the two kinds of client it serves.

Toys never use cookies: a device API request (authenticated per request by its HMAC) skips
Flask's session machinery, which would otherwise build a signing serializer on every request.
Parent pages keep the signed-cookie session, and its cookie is `Secure` whenever the page came
over HTTPS (`--tls`), whatever the configuration says, so it is never sent back over plain HTTP.

One class, installed by the app factory: two blueprints each installing their own would leave
only the last one registered in force.
"""

from __future__ import annotations

from flask import Flask, Request, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

DEVICE_API_PREFIX = "/api/"


class CloudSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(DEVICE_API_PREFIX):
            return None  # Flask substitutes a null session, which is never saved
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or request.is_secure)
