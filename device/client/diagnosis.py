"""Why the toy could not talk to a cloud, found by asking the address itself.

Error texts from requests and OpenSSL differ between versions ("wrong version number", "record
layer failure", "connection aborted"); instead of parsing them, the toy connects once more and
looks: is anything listening, does it speak TLS, does it speak plain HTTP. The answer is one
sentence that says what to change.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 2.0
SERVE_HINT = "`teddy cloud serve` prints the cloud's address"


def default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def ca_file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be the cloud's CA certificate; None when it is one."""
    file = Path(path)
    if not file.is_file():
        return (f"no CA certificate at {path}: copy the cloud's ca.pem to this machine "
                "(`teddy cloud serve --tls` prints where it is)")
    try:
        ssl.create_default_context(cafile=str(file))
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        return (f"{path} is not a CA certificate (it holds no PEM certificate): give the "
                "cloud's ca.pem, not its key or another file (`teddy cloud serve --tls` prints "
                "where it is)")
    except OSError as error:
        return f"cannot read the CA certificate {path} ({error.strerror or error})"
    return None


def certificate_refused(error: BaseException) -> bool:
    """The other end spoke TLS and its certificate did not verify: no need to probe further.

    OpenSSL's reason code is the one stable part of the text; without it, probe.
    """
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


def explain_unreachable(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[str, bool]:
    """What is wrong with talking to `url`, and whether the URL itself is wrong (input).

    (message, True) means the user gave the wrong URL (e.g. http for an https cloud);
    (message, False) means the cloud is not there or not answering.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or default_port(parts.scheme)
    except ValueError:
        return f"{url!r} has no valid port number", True
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except ConnectionRefusedError:
        return (f"nothing is listening on {where} (check the port, {SERVE_HINT}, and that "
                "the cloud is running)"), False
    except TimeoutError:
        return f"{where} did not answer within {timeout_s:g} s (a firewall, or the wrong host)", \
            False
    except OSError as error:
        return f"cannot connect to {where} ({error.strerror or error})", False
    with sock:
        if parts.scheme == "https":
            if _speaks_plain_http(sock, host):
                return (f"{where} serves plain http, not https: use --cloud "
                        f"http://{where}"), True
        elif _speaks_tls(sock, host):
            return (f"{where} serves https, not plain http: use --cloud https://{where} with "
                    "--ca (the cloud's ca.pem)"), True
    return f"{where} accepted the connection but did not answer as a Teddy cloud", False


def _speaks_plain_http(sock: socket.socket, host: str) -> bool:
    try:
        sock.sendall(f"HEAD /healthz HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        return sock.recv(5) == b"HTTP/"
    except OSError:
        return False


def _speaks_tls(sock: socket.socket, host: str) -> bool:
    # Only asks whether a TLS handshake completes; nothing is sent or trusted over it.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with context.wrap_socket(sock, server_hostname=host or None):
            return True
    except (ssl.SSLError, OSError):
        return False
