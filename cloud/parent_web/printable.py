"""Downloads that are whole pages on their own: their style goes inside them.

A saved or forwarded page cannot fetch the site's stylesheet, so these pages carry it inline;
the Content-Security-Policy names that style by its hash, so nothing else inline is run.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib.resources import files

from flask import Response

from cloud.parent_web.security import CONTENT_SECURITY_POLICY


@cache
def style() -> str:
    return (files("cloud.parent_web") / "static" / "printable.css").read_text("utf-8")


def _policy() -> str:
    digest = base64.b64encode(hashlib.sha256(style().encode()).digest()).decode()
    return CONTENT_SECURITY_POLICY.replace("style-src 'self'", f"style-src 'sha256-{digest}'")


def page_response(body: str, *, filename: str, attachment: bool) -> Response:
    """The page, shown in the browser or saved as `filename`."""
    disposition = "attachment" if attachment else "inline"
    return Response(body, mimetype="text/html", headers={
        "Content-Security-Policy": _policy(),
        "Content-Disposition": f'{disposition}; filename="{filename}"'})
