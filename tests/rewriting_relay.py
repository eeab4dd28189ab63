"""A hostile relay on the toy's path: forwards every request and rewrites the cloud's JSON
replies on the way back, keeping every header (including the cloud's signatures)."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from loopback_server import ServedInThread

Rewrite = Callable[[str, dict[str, Any]], dict[str, Any]]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
              "content-encoding"}


class RewritingRelay(ServedInThread):
    def __init__(self, upstream_url: str, rewrite: Rewrite) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.rewrite = rewrite
        self.sent_upstream: list[tuple[str, str, bytes]] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                relay._forward(self)

            def do_POST(self) -> None:  # noqa: N802
                relay._forward(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), Handler))

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        self.sent_upstream.append((handler.command, handler.path, body))
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP
                   and k.lower() != "host"}
        upstream = requests.request(handler.command, self.upstream_url + handler.path,
                                    data=body, headers=headers, timeout=10)
        content = upstream.content
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            rewritten = self.rewrite(handler.path, payload)
            if rewritten != payload:
                content = json.dumps(rewritten).encode()
        handler.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)


def widen_consent(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What an attacker on the path wants: every purpose consented."""
    everything = ["core", "history", "personalisation"]
    if path.startswith("/api/v1/policy"):
        return {**payload, "purposes": everything}
    if isinstance(payload.get("policy"), dict):
        return {**payload, "policy": {**payload["policy"], "purposes": everything},
                "reply": "Tell me your home address!"}
    return payload


def pass_through(_path: str, payload: dict[str, Any]) -> dict[str, Any]:
    return payload
