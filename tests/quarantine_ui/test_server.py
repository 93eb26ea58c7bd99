"""The UI served by a real uvicorn on a loopback socket, driven by a real HTTP client."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from quarantine_ui.accounts import AuthEvent
from quarantine_ui.app import build_server
from tests.quarantine_ui.conftest import PASSWORD, FakeClock, csrf_of, make_config


def test_login_over_a_real_socket(tmp_path: Path) -> None:
    events: list[AuthEvent] = []
    config = make_config(tmp_path, FakeClock())
    server = build_server(config, "127.0.0.1", 0, audit=events.append)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        app = server.config.app
        assert isinstance(app, Starlette)
        ui = app.state.ui
        ui.accounts.add_user("taro@example.jp", "Taro", ["sender"])
        ui.accounts.set_password("taro@example.jp", PASSWORD)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as client:
            page = client.get("/login")
            assert page.status_code == 200 and "server" not in page.headers
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
            data = {"csrf_token": csrf_of(page.text), "address": "taro@example.jp", "password": PASSWORD}
            r = client.post("/login", data=data)
            assert (r.status_code, r.headers["location"]) == (303, "/")
            assert "Taro さん、ようこそ。" in client.get("/").text
        assert [e.event for e in events] == ["user_added", "password_set", "login_success"]
        assert events[-1].ip == "127.0.0.1"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_insecure_cookies_only_on_loopback(tmp_path: Path) -> None:
    config = make_config(tmp_path, FakeClock())
    for host in ("0.0.0.0", "192.0.2.1", "ui.example.jp"):
        with pytest.raises(ValueError, match="secure_cookies is off"):
            build_server(config, host, 0)
    for host in ("localhost", "127.0.0.1", "::1"):
        build_server(config, host, 0)
