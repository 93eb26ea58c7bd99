"""STARTTLS with the configured certificate, and SMTP AUTH only over TLS for clients outside
the configured networks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiosmtplib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.config import load_config
from gateway.smtp import hash_password
from tests.gateway.conftest import Sink, make_mail, queue_id, start_gateway, write_config


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sekimori.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_auth_over_starttls(tmp_path: Path, sink: Sink) -> None:
    cert, key = self_signed(tmp_path)
    hashed = hash_password("s3cret-pass")
    path = write_config(tmp_path, upstream_port=sink.port)
    text = path.read_text(encoding="utf-8").replace(
        "smtp:\n",
        f'smtp:\n  networks: ["10.9.9.0/24"]\n  tls: {{cert: {cert}, key: {key}}}\n'
        f'  auth:\n    users:\n      connector: "{hashed}"\n',
        1,
    )
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path)
    gw = await start_gateway(cfg)
    data = make_mail(to=["hanako@example.co.jp"])
    try:
        plain = aiosmtplib.SMTP(hostname="127.0.0.1", port=gw.port, start_tls=False, timeout=20)
        await plain.connect()
        await plain.ehlo()
        assert plain.supports_extension("starttls")
        assert not plain.supports_extension("auth"), "no AUTH before TLS"
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await plain.sendmail("taro@example.co.jp", ["hanako@example.co.jp"], data)
        assert refused.value.code == 530
        plain.close()

        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=gw.port, start_tls=True, validate_certs=False, timeout=20
        )
        await client.connect()
        await client.ehlo()
        assert client.supports_extension("auth")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await client.login("connector", "wrong")
        await client.login("connector", "s3cret-pass")
        _, reply = await client.sendmail("taro@example.co.jp", ["hanako@example.co.jp"], data)
        await client.quit()
        await sink.wait_for(lambda: bool(sink.to("hanako@example.co.jp")))
        got = sink.to("hanako@example.co.jp")[0].data
        assert b"with ESMTPSA id " + queue_id(reply).encode() in got
    finally:
        await gw.stop()
