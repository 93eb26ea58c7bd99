"""The organisation CA the proxy signs its certificates with, as mitmproxy expects it.

mitmproxy reads its CA from a folder (its ``confdir``): ``mitmproxy-ca.pem`` holds the private
key and the certificate, and it signs a certificate for every decrypted host with that key
(``mitmproxy/certs.py``, ``CertStore.from_store``). If the file is missing mitmproxy makes a new
CA silently; Sekimori never lets it: :func:`require_ca` refuses to start without one, so the
CA that browsers trust is always the one ``sekimori ca init`` made or imported.

A CA certificate must say it is one (``basicConstraints`` CA:TRUE, critical) and may sign
certificates (``keyUsage`` keyCertSign), as mitmproxy's ``concepts-certificates.md`` requires
of an imported company CA. The key file is written with mode 0600; the exported forms carry
the certificate only.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

#: mitmproxy's file names (``CONF_BASENAME`` is ``mitmproxy``).
KEY_AND_CERT = "mitmproxy-ca.pem"
CERT_ONLY = "mitmproxy-ca-cert.pem"

ExportFormat = Literal["pem", "der", "p12"]


class CAError(ValueError):
    """A CA cannot be created, imported or used; the message says why."""


@dataclass(frozen=True)
class CAInfo:
    subject: str
    not_after: datetime.datetime
    sha256: str

    def __str__(self) -> str:
        return f"{self.subject}, valid until {self.not_after:%Y-%m-%d}, SHA-256 {self.sha256}"


def info(cert: x509.Certificate) -> CAInfo:
    digest = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return CAInfo(cert.subject.rfc4514_string(), cert.not_valid_after_utc, digest)


def create_ca(
    *,
    organisation: str,
    common_name: str,
    years: int = 10,
    key_type: Literal["rsa", "ec"] = "rsa",
    now: datetime.datetime | None = None,
) -> tuple[bytes, x509.Certificate]:
    """A new CA: the PEM private key and its self-signed certificate.

    >>> key, cert = create_ca(organisation="Example", common_name="Example Sekimori CA", key_type="ec")
    >>> check_ca_certificate(cert) is None, key.startswith(b"-----BEGIN PRIVATE KEY-----")
    (True, True)
    """
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    key = (
        rsa.generate_private_key(65537, 2048)
        if key_type == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(days=2)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, cert


def check_ca_certificate(cert: x509.Certificate, now: datetime.datetime | None = None) -> None:
    """Raise :class:`CAError` unless ``cert`` can act as the proxy's CA."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise CAError("the certificate has no basicConstraints: it is not a CA certificate") from None
    if not bc.value.ca or not bc.critical:
        raise CAError("the certificate's basicConstraints must be CA:TRUE and critical")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        raise CAError("the certificate has no keyUsage (keyCertSign is needed)") from None
    if not ku.value.key_cert_sign:
        raise CAError("the certificate's keyUsage does not allow keyCertSign")
    moment = now or datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc <= moment:
        raise CAError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")


def _load_key(pem: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CAError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CAError("the private key must be RSA or EC")
    return key


def _load_cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        pass
    try:
        return x509.load_der_x509_certificate(pem)
    except ValueError as exc:
        raise CAError(f"not a PEM or DER certificate: {exc}") from None


def import_ca(key_pem: bytes, cert_data: bytes) -> tuple[bytes, x509.Certificate]:
    """Check a company CA given as a PEM key and a PEM or DER certificate; returns both in the
    form :func:`write_ca` takes."""
    key = _load_key(key_pem)
    cert = _load_cert(cert_data)
    check_ca_certificate(cert)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
        raise CAError("the private key does not belong to the certificate")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, cert


def write_ca(folder: Path, key_pem: bytes, cert: x509.Certificate, *, force: bool = False) -> CAInfo:
    """Place the CA in ``folder`` (created mode 0700); refuses to replace one unless ``force``."""
    target = folder / KEY_AND_CERT
    if target.exists() and not force:
        raise CAError(
            f"{target} exists already (use --force to replace it; clients must then trust the new one)"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    tmp = folder / f".{KEY_AND_CERT}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem + cert_pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    (folder / CERT_ONLY).write_bytes(cert_pem)
    # mitmproxy's derived files of an earlier CA would not match the new one.
    for stale in ("mitmproxy-ca.p12", "mitmproxy-ca-cert.p12", "mitmproxy-ca-cert.cer"):
        (folder / stale).unlink(missing_ok=True)
    return info(cert)


def load_certificate(folder: Path) -> x509.Certificate:
    """The CA certificate in ``folder``; :class:`CAError` if there is none or it is unusable."""
    path = folder / KEY_AND_CERT
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CAError(f"no CA in {folder}: create one with 'sekimori ca init'") from None
    except OSError as exc:
        raise CAError(f"{path}: {exc.strerror or exc}") from None
    _load_key(data)
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise CAError(f"{path}: no certificate after the key")
    check_ca_certificate(certs[0])
    return certs[0]


def require_ca(folder: Path) -> CAInfo:
    """Check that ``folder`` holds a usable CA before mitmproxy is pointed at it."""
    return info(load_certificate(folder))


def export(folder: Path, fmt: ExportFormat) -> bytes:
    """The CA certificate for rollout: PEM (Firefox, Linux, Python/Node bundles), DER (``.cer``
    for Windows GPO and Intune, macOS profiles, Java ``keytool``) or PKCS#12 (certificate only,
    no key, no password)."""
    cert = load_certificate(folder)
    if fmt == "pem":
        return cert.public_bytes(serialization.Encoding.PEM)
    if fmt == "der":
        return cert.public_bytes(serialization.Encoding.DER)
    return pkcs12.serialize_key_and_certificates(
        name=b"Sekimori CA", key=None, cert=cert, cas=None, encryption_algorithm=serialization.NoEncryption()
    )


__all__ = [
    "CERT_ONLY",
    "KEY_AND_CERT",
    "CAError",
    "CAInfo",
    "check_ca_certificate",
    "create_ca",
    "export",
    "import_ca",
    "info",
    "load_certificate",
    "require_ca",
    "write_ca",
]
