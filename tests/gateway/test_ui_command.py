"""The gateway configuration's ``ui`` section reaches the UI's own settings."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from gateway.actions import LinkAuth
from gateway.commands.ui import ui_config
from gateway.config import load_config
from tests.gateway.conftest import write_config


def test_ui_keys_reach_the_ui_settings(tmp_path: Path) -> None:
    path = write_config(tmp_path, upstream_port=2525)
    cfg = load_config(path)
    default = ui_config(cfg)
    assert default.sso_header is None and default.trusted_proxies == ()
    assert default.default_lang == "ja" and not default.mfa_for_everyone
    assert default.approval_links is LinkAuth.MFA, "approval by link needs TOTP by default"

    original = path.read_text(encoding="utf-8")
    text = original.replace(
        "ui: {",
        "ui: {sso_header: X-Remote-User, trusted_proxies: [10.0.0.5/32], mfa_for_everyone: true, "
        "default_language: en, session_idle: 10m, approval_links: one_click, ",
    )
    assert text != original
    path.write_text(text, encoding="utf-8")
    ui = ui_config(load_config(path))
    assert ui.sso_header == "X-Remote-User"
    assert ui.trusted_proxies == (ipaddress.ip_network("10.0.0.5/32"),)
    assert ui.mfa_for_everyone and ui.default_lang == "en" and ui.session_idle == 600
    assert ui.approval_links is LinkAuth.ONE_CLICK
    assert ui.secret == cfg.secret_bytes and ui.var_dir == cfg.store.path
