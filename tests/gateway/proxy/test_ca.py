"""The CA: only a real CA certificate with its own key is accepted."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.proxy import ca


def leaf(ca_ok: bool = False, days: int = 30) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a CA")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=60))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if ca_ok:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    cert = builder.sign(key, hashes.SHA256())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, cert.public_bytes(serialization.Encoding.PEM)


def test_a_leaf_certificate_is_not_a_ca() -> None:
    key, cert = leaf()
    with pytest.raises(ca.CAError, match="basicConstraints"):
        ca.import_ca(key, cert)


def test_an_expired_ca_is_refused() -> None:
    key, cert = leaf(ca_ok=True, days=-1)
    with pytest.raises(ca.CAError, match="expired"):
        ca.import_ca(key, cert)


def test_a_folder_without_a_ca_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ca.CAError, match="sekimori ca init"):
        ca.require_ca(tmp_path)


def test_written_ca_is_read_back_and_stale_derived_files_go(tmp_path: Path) -> None:
    (tmp_path / "mitmproxy-ca-cert.p12").write_bytes(b"from an earlier CA")
    key, cert = ca.create_ca(organisation="Example", common_name="Example CA", key_type="ec")
    info = ca.write_ca(tmp_path, key, cert)
    assert ca.load_certificate(tmp_path) == cert and "Example CA" in str(info)
    assert not (tmp_path / "mitmproxy-ca-cert.p12").exists()
