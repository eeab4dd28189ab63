"""A local certificate authority and server certificate for `teddy cloud serve --tls`.

The toy pins this CA (CloudTransport's `ca_file`) instead of trusting the system store, so
only a server holding a key signed by this CA can talk to it. Keys are written owner-only.
The CA is made once per directory; the server certificate is re-issued when it is missing,
close to expiry, or does not name the host being served.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 397  # the longest lifetime browsers accept for a server certificate
RENEW_WITHIN_DAYS = 30
ALWAYS_NAMED = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class TlsPaths:
    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def inside(cls, directory: str | Path) -> TlsPaths:
        d = Path(directory)
        return cls(d, d / "ca.pem", d / "ca-key.pem", d / "server.pem", d / "server-key.pem")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(temporary, path)


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _names_for(host: str) -> list[x509.GeneralName]:
    names = list(ALWAYS_NAMED)
    if host not in WILDCARD_HOSTS and host not in names:
        names.append(host)
    return [_san_entry(name) for name in names]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _make_ca(paths: TlsPaths) -> None:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Teddy local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(paths.ca_key, key)
    _write_cert(paths.ca_cert, cert)


def _make_server_cert(paths: TlsPaths, host: str) -> None:
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Teddy cloud")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names_for(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(paths.server_key, key)
    _write_cert(paths.server_cert, cert)


def _server_cert_fits(paths: TlsPaths, host: str) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if cert.issuer != ca_cert.subject:
        return False
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_WITHIN_DAYS):
        return False
    named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(name in named for name in _names_for(host))


def ensure_server_certificate(directory: str | Path, host: str = "127.0.0.1") -> TlsPaths:
    """Make (or reuse) the CA and a server certificate naming `host`, localhost and loopback."""
    paths = TlsPaths.inside(directory)
    paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        _make_ca(paths)
        paths.server_cert.unlink(missing_ok=True)
    if not _server_cert_fits(paths, host):
        _make_server_cert(paths, host)
    return paths
