"""The simulator's own certificate authority and server certificate.

Real Cortex serves ``wss://localhost:6868`` under a self-signed "Emotiv CA Root" that
clients must trust (cortex_api.md §1.2). The simulator does the same with its own CA, so a
client's certificate handling is exercised for real: the server certificate names
``localhost``, ``127.0.0.1`` and ``emotiv-cortex.remote`` (the documented remote-Cortex
host name), and clients verify it against the CA PEM the simulator writes out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SAN_DNS = ("localhost", "emotiv-cortex.remote")
SAN_IP = ("127.0.0.1", "::1")
CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE = "ca.pem", "ca.key", "server.pem", "server.key"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cortex-bridge"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Cortex simulator"),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def generate(directory: Path) -> TlsFiles:
    """Write a fresh CA and a server certificate signed by it into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("cortex-bridge Simulator CA Root")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(n) for n in SAN_DNS] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in SAN_IP
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    files.ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(directory / CA_KEY_FILE, _key_pem(ca_key))
    files.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(files.key_pem, _key_pem(key))
    return files


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def load_or_generate(directory: Path) -> TlsFiles:
    """Reuse the CA and certificate in ``directory`` while the certificate is valid for
    at least another day, so clients can keep trusting one CA file across runs."""
    files = TlsFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    if files.ca_pem.exists() and files.cert_pem.exists() and files.key_pem.exists():
        try:
            cert = x509.load_pem_x509_certificate(files.cert_pem.read_bytes())
            if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
                return files
        except ValueError:
            pass
    return generate(directory)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_pem, files.key_pem)
    return context
