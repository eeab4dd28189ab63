"""The local CA and server certificate: real handshakes over loopback with the pinned CA."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509

from cloud.tls import ensure_server_certificate


def _handshake(paths_dir: Path, ca_file: Path, server_hostname: str) -> str:
    """Serve one TLS connection with the server certificate; return what the client read."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(paths_dir / "server.pem", paths_dir / "server-key.pem")
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello toy")
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.recv(64).decode()
    finally:
        thread.join(timeout=5)
        listener.close()


def test_pinned_ca_accepts_the_server_for_loopback_names(tmp_path: Path) -> None:
    paths = ensure_server_certificate(tmp_path / "tls")
    assert _handshake(paths.directory, paths.ca_cert, "127.0.0.1") == "hello toy"
    assert _handshake(paths.directory, paths.ca_cert, "localhost") == "hello toy"


def test_another_ca_or_another_name_is_refused(tmp_path: Path) -> None:
    paths = ensure_server_certificate(tmp_path / "tls")
    stranger = ensure_server_certificate(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(paths.directory, stranger.ca_cert, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(paths.directory, paths.ca_cert, "teddy.example.org")


def test_keys_are_private_and_the_ca_is_reused(tmp_path: Path) -> None:
    paths = ensure_server_certificate(tmp_path / "tls")
    for key in (paths.ca_key, paths.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca_before = paths.ca_cert.read_bytes()
    server_before = paths.server_cert.read_bytes()
    again = ensure_server_certificate(tmp_path / "tls")
    assert again.ca_cert.read_bytes() == ca_before
    assert again.server_cert.read_bytes() == server_before


def test_a_new_host_gets_a_new_certificate_from_the_same_ca(tmp_path: Path) -> None:
    paths = ensure_server_certificate(tmp_path / "tls")
    ca_before = paths.ca_cert.read_bytes()
    ensure_server_certificate(tmp_path / "tls", host="teddy.lan")
    assert paths.ca_cert.read_bytes() == ca_before
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "teddy.lan" in san.get_values_for_type(x509.DNSName)
    assert _handshake(paths.directory, paths.ca_cert, "teddy.lan") == "hello toy"
    ca = x509.load_pem_x509_certificate(ca_before)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
