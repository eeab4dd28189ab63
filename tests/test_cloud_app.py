"""What the app factory sets up for every request: one session interface (none for toys, a
Secure cookie for parents over HTTPS) and the device API's security headers."""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSession


def test_a_device_api_request_opens_no_cookie_session(app: Flask) -> None:
    # As built by the factory, with the parent pages registered after the device API: the
    # parent pages must not swap in an interface that opens a session for every toy request.
    with app.test_request_context("/api/v1/intent", method="POST"):
        assert app.session_interface.open_session(app, request) is None
    with app.test_request_context("/parent/"):
        assert isinstance(app.session_interface.open_session(app, request), SecureCookieSession)


def test_the_parent_cookie_is_secure_over_https_even_when_not_configured(app: Flask) -> None:
    assert not app.config["SESSION_COOKIE_SECURE"]
    with app.test_request_context("/parent/", base_url="https://cloud.example"):
        assert app.session_interface.get_cookie_secure(app) is True
    with app.test_request_context("/parent/", base_url="http://127.0.0.1"):
        assert app.session_interface.get_cookie_secure(app) is False


def test_toys_get_no_cookie_back(client) -> None:
    answered = client.get("/api/v1/policy")
    assert answered.status_code == 401
    assert "Set-Cookie" not in answered.headers


def test_device_api_answers_carry_the_security_headers_once(client) -> None:
    from cloud.errors import API_HEADERS

    answered = client.get("/api/v1/policy")
    for name, value in API_HEADERS.items():
        assert answered.headers.getlist(name) == [value], name


def test_a_header_the_route_set_is_not_overridden(app: Flask) -> None:
    from flask import Response

    with app.test_request_context("/api/v1/intent"):
        response = Response("{}", headers={"cache-control": "max-age=5"})
        response = app.process_response(response)
    assert response.headers.getlist("Cache-Control") == ["max-age=5"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
