"""The PAC file: the services' hosts through the gateway, everything else direct (or, on
request, everything through it); the UI serves it without login."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.config import ProxyConfig
from gateway.proxy.pac import pac_file
from quarantine_ui.app import create_app
from quarantine_ui.config import UIConfig


def test_routed_hosts_and_the_proxy_address() -> None:
    cfg = ProxyConfig.model_validate(
        {
            "services": ["microsoft_graph"],
            "public_address": "sekimori.example.co.jp:3128",
            "rules": [{"name": "chat", "hosts": ["chatgpt.com"]}],
            "tenant_restrictions": {"microsoft": {"block_consumer": True}},
        }
    )
    text = pac_file(cfg)
    assert '"graph.microsoft.com"' in text and '".sharepoint.com"' in text and '"chatgpt.com"' in text
    assert '"login.live.com"' in text and '"upload.box.com"' not in text
    assert 'return "PROXY sekimori.example.co.jp:3128"' in text and 'return "DIRECT"' in text


def test_everything_and_over_tls() -> None:
    cfg = ProxyConfig.model_validate(
        {"public_address": "gw.example:3129", "pac": {"all_traffic": True, "https": True}}
    )
    assert pac_file(cfg) == 'function FindProxyForURL(url, host) {\n  return "HTTPS gw.example:3129";\n}\n'


async def test_the_ui_serves_it_without_login(tmp_path: Path) -> None:
    app = create_app(
        UIConfig(var_dir=tmp_path, secret=b"s" * 32, secure_cookies=False), pac="function X() {}"
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ui") as c:
        r = await c.get("/proxy.pac")
    assert r.status_code == 200 and r.text == "function X() {}"
    assert r.headers["content-type"] == "application/x-ns-proxy-autoconfig"
