"""``sekimori ca``: create or import the upload gate's CA, and export its certificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.cli import main
from gateway.proxy import ca


def test_init_then_export_in_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ca"
    assert (
        main(["ca", "init", "--dir", str(folder), "--organisation", "Example 株式会社", "--key-type", "ec"])
        == 0
    )
    assert "SHA-256" in capsys.readouterr().out
    assert (folder / ca.KEY_AND_CERT).stat().st_mode & 0o077 == 0  # the key is the owner's only
    for fmt in ("pem", "der", "p12"):
        assert (
            main(
                ["ca", "export", "--dir", str(folder), "--format", fmt, "--out", str(tmp_path / f"ca.{fmt}")]
            )
            == 0
        )
    pem = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    der = x509.load_der_x509_certificate((tmp_path / "ca.der").read_bytes())
    p12 = pkcs12.load_pkcs12((tmp_path / "ca.p12").read_bytes(), None)
    assert pem == der and p12.key is None
    assert [c.certificate for c in p12.additional_certs] == [pem]  # a trust anchor, no key
    assert b"PRIVATE KEY" not in (tmp_path / "ca.pem").read_bytes()
    assert "Example 株式会社" in pem.subject.rfc4514_string()
    ca.check_ca_certificate(pem)


def test_init_refuses_to_replace_a_ca_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ca"
    assert main(["ca", "init", "--dir", str(folder), "--key-type", "ec"]) == 0
    first = ca.load_certificate(folder)
    assert main(["ca", "init", "--dir", str(folder), "--key-type", "ec"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["ca", "init", "--dir", str(folder), "--key-type", "ec", "--force"]) == 0
    assert ca.load_certificate(folder) != first


def test_import_a_company_ca_and_refuse_a_non_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_pem, cert = ca.create_ca(organisation="Corp", common_name="Corp Root", key_type="ec")
    (tmp_path / "corp.key").write_bytes(key_pem)
    (tmp_path / "corp.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    folder = tmp_path / "ca"
    args = ["ca", "init", "--dir", str(folder), "--import-cert", str(tmp_path / "corp.der"), "--import-key"]
    assert main([*args, str(tmp_path / "corp.key")]) == 0
    assert ca.load_certificate(folder) == cert
    other_key, _ = ca.create_ca(organisation="X", common_name="X", key_type="ec")
    (tmp_path / "other.key").write_bytes(other_key)
    assert main([*args, str(tmp_path / "other.key"), "--force"]) == 1
    assert "does not belong to the certificate" in capsys.readouterr().err


def test_export_without_a_ca_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ca", "export", "--dir", str(tmp_path / "none")]) == 1
    assert "sekimori ca init" in capsys.readouterr().err


def test_the_folder_comes_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"secret: {'s' * 40}\nproxy:\n  ca: {tmp_path / 'corp-ca'}\n", encoding="utf-8")
    assert main(["ca", "init", "--config", str(cfg), "--key-type", "ec"]) == 0
    assert (tmp_path / "corp-ca" / ca.KEY_AND_CERT).is_file()
