"""``sekimori proxy``: the upload gate alone; it will not start without its section or its CA."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main


def test_refuses_without_a_proxy_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"secret: {'s' * 40}\n", encoding="utf-8")
    assert main(["proxy", "--config", str(cfg)]) == 2
    assert "no proxy: section" in capsys.readouterr().err


def test_refuses_without_a_ca_and_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"secret: {'s' * 40}\nstore: {{path: {tmp_path / 'var'}}}\nproxy: {{}}\n", encoding="utf-8"
    )
    assert main(["proxy", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "proxy.ca" in err and "sekimori ca init" in err
    assert not (tmp_path / "var" / "proxy-ca").exists()  # mitmproxy never made one silently
