"""Faults met with a documented answer, and the headers every device reply carries.

A busy or full database is a JSON 503 with Retry-After, never Flask's HTML 500 (docs/cloud.md,
"Errors"), on SQLite (locked, disk full) and PostgreSQL alike (lock_timeout, server away).

The device API and /healthz always answer JSON. The parent pages get the same status codes as
a short page, so a parent's browser is told to retry too; their own errors stay theirs.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

import psycopg
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from cloud.storage.postgres import CommitOutcomeUnknown

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_S = 1
FULL_RETRY_AFTER_S = 60
JSON_PREFIXES = ("/api/", "/healthz")


class StorageFull(Exception):
    """The disk under the database has no room left; nothing was stored."""


def classify(exc: BaseException) -> str | None:
    """'busy', 'full', 'unknown' (a commit whose outcome is unknown) or None for an exception
    from the database or the disk."""
    if isinstance(exc, StorageFull):
        return "full"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "full"
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return "busy"
        if "disk is full" in text or "disk i/o error" in text:
            return "full"
    return _classify_postgres(exc)


def _classify_postgres(exc: BaseException) -> str | None:
    """PostgreSQL's equivalents: its disk is full; or it cannot answer now (a lock not granted
    within lock_timeout, a deadlock or serialization failure, a server shutting down or
    unreachable, a dropped connection), which a retry shortly may get past."""
    if isinstance(exc, psycopg.errors.DiskFull):
        return "full"
    if isinstance(exc, CommitOutcomeUnknown):
        return "unknown"
    if isinstance(exc, psycopg.OperationalError):
        # LockNotAvailable, QueryCanceled, TransactionRollbackError, AdminShutdown,
        # CannotConnectNow and plain connection failures are all OperationalError.
        return "busy"
    return None


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _unavailable(kind: str) -> Response:
    if kind == "busy":
        message, code, wait = ("the cloud's database is busy; nothing was stored, retry shortly",
                               "database_busy", BUSY_RETRY_AFTER_S)
    elif kind == "unknown":
        # The database went away during the commit: saying "nothing was stored" could be false.
        message, code, wait = ("the cloud's database stopped answering while storing this; "
                               "it may or may not have been stored, retry shortly",
                               "outcome_unknown", BUSY_RETRY_AFTER_S)
    else:
        message, code, wait = ("the cloud's disk is full; nothing was stored, retry later",
                               "storage_full", FULL_RETRY_AFTER_S)
    if _wants_json():
        response = jsonify(error=message, code=code, retry_after_s=wait)
        response.status_code = 503
    else:
        response = ServiceUnavailable(message[0].upper() + message[1:] + ".").get_response()
    response.headers["Retry-After"] = str(wait)
    return response


# Device replies carry a child's name: no cache may keep them, no browser may sniff or frame
# them, and no script may run from them.
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def register_error_handlers(app: Flask) -> None:
    @app.after_request
    def _api_headers(response: Response) -> Response:
        if _wants_json():
            # As setdefault per header, in one pass over the response's headers (~8 us less
            # per device request than five setdefault scans).
            present = {name.lower() for name, _value in response.headers}
            response.headers.extend([(name, value) for name, value in API_HEADERS.items()
                                     if name.lower() not in present])
        return response

    @app.errorhandler(sqlite3.OperationalError)
    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(OSError)
    @app.errorhandler(StorageFull)
    def _storage(exc: Exception):  # type: ignore[no-untyped-def]
        kind = classify(exc)
        if kind is None:
            return _internal(exc)
        log.warning("answered 503 (%s) to %s %s: %s", kind, request.method, request.path, exc)
        return _unavailable(kind)

    @app.errorhandler(InternalServerError)
    def _internal(exc: Exception):  # type: ignore[no-untyped-def]
        original = getattr(exc, "original_exception", None) or exc
        kind = classify(original)
        if kind is not None:
            return _unavailable(kind)
        if isinstance(exc, HTTPException) and not _wants_json():
            return exc
        if not isinstance(exc, HTTPException):
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
            if not _wants_json():
                return InternalServerError()
        return jsonify(error="internal error; nothing was stored"), 500

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        if not _wants_json() or exc.code is None or exc.code < 400:
            return exc
        response = jsonify(error=(exc.description or exc.name))
        response.status_code = exc.code
        for name, value in exc.get_response().headers.items():
            if name.lower() in ("allow", "retry-after"):
                response.headers[name] = value
        return response
